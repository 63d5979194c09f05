# Golden outputs of R GSVA's ssGSEA for tests/interferon/test_ssgsea_golden.py.
# Run ONCE from the repository root:  Rscript tests/golden/gsva_ssgsea/make_golden.R
# Made with Debian's r-bioc-gsva (GSVA 1.46.0, R 4.x); the versions are written to versions.txt.
# The input is a small seeded count matrix with many ties (integer counts, as RNA-seq has),
# so the tie handling of the ranking is part of what is compared.
suppressPackageStartupMessages(library(GSVA))
out <- "tests/golden/gsva_ssgsea"
set.seed(20221110)
n_genes <- 300
n_samples <- 10
genes <- sprintf("G%03d", seq_len(n_genes))
mu <- rgamma(n_genes, shape = 0.8, scale = 40)
X <- matrix(rpois(n_genes * n_samples, lambda = rep(mu, n_samples)), nrow = n_genes,
            dimnames = list(genes, sprintf("S%02d", seq_len(n_samples))))
# an IFN-like set that rises in the last five samples
up <- genes[1:12]
X[up, 6:10] <- X[up, 6:10] * 4L
# no constant gene (GSVA would drop it)
X[apply(X, 1, function(r) length(unique(r)) == 1), 1] <- 1L
sets <- list(
  ifn_like = up,
  random_20 = genes[101:120],
  mixed_8 = c(genes[5:8], genes[201:204]),
  big_60 = genes[121:180]
)
write.table(data.frame(gene = genes, X, check.names = FALSE), file.path(out, "counts.tsv"),
            sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(vapply(names(sets), function(s) paste(c(s, "golden", sets[[s]]), collapse = "\t"), ""),
           file.path(out, "sets.gmt"))
for (norm in c(TRUE, FALSE)) {
  es <- gsva(X, sets, method = "ssgsea", ssgsea.norm = norm, min.sz = 1, max.sz = Inf,
             verbose = FALSE)
  f <- if (norm) "ssgsea_normalised.tsv" else "ssgsea_raw.tsv"
  write.table(data.frame(gene_set = rownames(es), es, check.names = FALSE), file.path(out, f),
              sep = "\t", quote = FALSE, row.names = FALSE)
}
writeLines(c(R.version.string, paste("GSVA", as.character(packageVersion("GSVA")))),
           file.path(out, "versions.txt"))
