# Golden reference: R DESeq2 on the paired design ~ patient + visit (MYO-05 misses W4).
# Run ONCE from the repository root; the outputs are committed next to this script:
#   Rscript tests/golden/deseq2_paired/run_deseq2.R
# Made with DESeq2 1.38.3 (Debian r-bioc-deseq2), R default settings (DESeq(), results(alpha = 0.05)).
suppressPackageStartupMessages(library(DESeq2))
here <- "tests/golden/deseq2_paired"
counts <- as.matrix(read.delim(gzfile(file.path(here, "counts.tsv.gz")), row.names = 1, check.names = FALSE))
samples <- read.csv(file.path(here, "samples.csv"), stringsAsFactors = FALSE)
stopifnot(identical(colnames(counts), samples$sample_id))
samples$patient <- factor(samples$patient_id, levels = sort(unique(samples$patient_id)))
samples$visit <- factor(samples$visit, levels = c("W0", "W4", "W24"))
dds <- DESeqDataSetFromMatrix(counts, colData = samples, design = ~ patient + visit)
dds <- DESeq(dds, quiet = TRUE)
write_gz <- function(df, name) {
  con <- gzfile(file.path(here, name), "w")
  write.table(df, con, sep = "\t", quote = FALSE, row.names = FALSE, na = "NA")
  close(con)
}
for (target in c("W4", "W24")) {
  res <- results(dds, contrast = c("visit", target, "W0"), alpha = 0.05)
  out <- data.frame(gene_id = rownames(res), base_mean = signif(res$baseMean, 8),
                    log2_fc = signif(res$log2FoldChange, 8), lfc_se = signif(res$lfcSE, 8),
                    stat = signif(res$stat, 8), p_value = signif(res$pvalue, 8),
                    padj = signif(res$padj, 8))
  write_gz(out, sprintf("r_%s_vs_W0.tsv.gz", target))
}
write_gz(data.frame(sample_id = colnames(dds), size_factor = signif(sizeFactors(dds), 8)), "r_size_factors.tsv.gz")
write_gz(data.frame(gene_id = rownames(dds), dispersion = signif(dispersions(dds), 8)), "r_dispersions.tsv.gz")
writeLines(c(sprintf("R %s", getRversion()), sprintf("DESeq2 %s", packageVersion("DESeq2"))),
           file.path(here, "r_versions.txt"))
