# Golden references for the DESeq2 agreement grid: R DESeq2 on every case of cases.tsv.
# Run ONCE from the repository root after make_inputs.py; the outputs are committed:
#   Rscript tests/golden/deseq2_grid/run_deseq2.R
# DESeq2 1.38.3 (Debian r-bioc-deseq2), default settings: DESeq(), results(contrast = <numeric>, alpha = 0.05).
# Non-integer counts are rounded with round() (R rounds halves to even, as numpy does).
suppressPackageStartupMessages(library(DESeq2))
here <- "tests/golden/deseq2_grid"
cases <- read.delim(file.path(here, "cases.tsv"), stringsAsFactors = FALSE)
write_gz <- function(df, path) {
  con <- gzfile(path, "w")
  write.table(df, con, sep = "\t", quote = FALSE, row.names = FALSE, na = "NA")
  close(con)
}
sig <- function(x) signif(x, 8)
for (k in seq_len(nrow(cases))) {
  case <- cases$case[k]
  dir <- file.path(here, case)
  counts <- as.matrix(read.delim(gzfile(file.path(dir, "counts.tsv.gz")), row.names = 1, check.names = FALSE))
  counts <- round(counts)
  storage.mode(counts) <- "integer"
  samples <- read.csv(file.path(dir, "samples.csv"), stringsAsFactors = FALSE, row.names = 1)
  stopifnot(identical(colnames(counts), rownames(samples)))
  for (col in names(samples)) if (is.character(samples[[col]])) samples[[col]] <- factor(samples[[col]])
  for (spec in strsplit(cases$levels[k], ";")[[1]]) {
    parts <- strsplit(spec, "=")[[1]]
    samples[[parts[1]]] <- factor(as.character(samples[[parts[1]]]), levels = strsplit(parts[2], "\\|")[[1]])
  }
  dds <- DESeqDataSetFromMatrix(counts, colData = samples, design = as.formula(cases$formula[k]))
  dds <- DESeq(dds, quiet = TRUE)
  mm <- attr(dds, "modelMatrix")
  stopifnot(ncol(mm) == length(resultsNames(dds)))
  colnames(mm) <- resultsNames(dds)
  write_gz(data.frame(sample_id = rownames(mm), mm, check.names = FALSE), file.path(dir, "r_design.tsv.gz"))
  mc <- mcols(dds)
  genes <- data.frame(gene_id = rownames(dds), base_mean = sig(mc$baseMean), disp_gene = sig(mc$dispGeneEst),
                      disp_fit = sig(mc$dispFit), dispersion = sig(mc$dispersion),
                      disp_outlier = mc$dispOutlier, max_cooks = sig(mc$maxCooks),
                      replaced = if (is.null(mc$replace)) FALSE else mc$replace)
  write_gz(genes, file.path(dir, "r_genes.tsv.gz"))
  fn <- dispersionFunction(dds)
  coefs <- attr(fn, "coefficients")
  fit <- data.frame(key = c("disp_prior_var", "var_log_disp_ests", "asympt_disp", "extra_pois",
                            paste0("size_factor:", colnames(dds))),
                    value = sig(c(attr(fn, "dispPriorVar"), attr(fn, "varLogDispEsts"),
                                  if (is.null(coefs)) c(NA, NA) else coefs, sizeFactors(dds))))
  write.table(fit, file.path(dir, "r_fit.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
  for (cspec in strsplit(cases$contrasts[k], ";")[[1]]) {
    parts <- strsplit(cspec, "=")[[1]]
    weights <- setNames(numeric(length(resultsNames(dds))), resultsNames(dds))
    for (w in strsplit(parts[2], ",")[[1]]) {
      nw <- strsplit(w, ":")[[1]]
      stopifnot(nw[1] %in% names(weights))
      weights[nw[1]] <- as.numeric(nw[2])
    }
    res <- results(dds, contrast = weights, alpha = 0.05)
    out <- data.frame(gene_id = rownames(res), log2_fc = sig(res$log2FoldChange), lfc_se = sig(res$lfcSE),
                      p_value = sig(res$pvalue), padj = sig(res$padj))
    write_gz(out, file.path(dir, sprintf("r_%s.tsv.gz", parts[1])))
  }
  cat(case, ":", nrow(dds), "genes,", ncol(dds), "samples,", ncol(mm), "coefficients\n")
}
writeLines(c(sprintf("R %s", getRversion()), sprintf("DESeq2 %s", packageVersion("DESeq2"))),
           file.path(here, "r_versions.txt"))
