# Golden values of R's random streams and loess, for myocit_omics.deseq.r_random and
# r_dispersion.loess_predict (DESeq2's estimateDispersionsPriorVar at <= 3 residual df).
# Run once from this folder: Rscript make_golden.R  (R 4.x, default RNGkind)
options(digits = 17)
out <- list()
add <- function(what, values) out[[length(out) + 1]] <<- data.frame(what = what, i = seq_along(values) - 1, value = sprintf("%.17g", values))
set.seed(2); add("runif", runif(5))
set.seed(2); add("rnorm", rnorm(5))
set.seed(2); add("rnorm_sd0_then_rnorm", c(rnorm(3, 0, 0), rnorm(2)))
for (df in 1:3) { set.seed(2); add(paste0("rchisq_df", df), rchisq(2000, df)[c(1:5, 1996:2000)]) }
set.seed(2); add("rgamma_shape0.3", rgamma(5, 0.3))
set.seed(2); add("rgamma_shape5", rgamma(5, 5))
set.seed(2); add("mixed", c(rchisq(5, 2), rnorm(3, 0, 0.5), rchisq(2, 1)))
# DESeq2's draws, as estimateDispersionsPriorVar makes them: bin counts of a few grid rows
brks <- -20:20/2
grid <- seq(from = 0, to = 8, length = 200)
for (df in 1:3) {
  set.seed(2)
  for (k in seq_along(grid)) {
    x <- log(rchisq(10000, df = df)) + rnorm(10000, 0, sqrt(grid[k])) - log(df)
    x <- x[x > min(brks) & x < max(brks)]
    if (k %in% c(1, 2, 101, 200)) add(sprintf("hist_df%d_row%d", df, k - 1), hist(x, breaks = brks, plot = FALSE)$counts)
  }
}
# loess(span = 0.2) on a smooth curve with a wiggle, predicted on DESeq2's fine grid
y <- sin(grid) + 0.1 * cos(7 * grid) + 0.05 * grid
fine <- seq(from = 0, to = 8, length = 1000)
p <- predict(loess(y ~ grid, span = 0.2), fine)
add("loess_interpolate", p[c(1, 2, 250, 500, 501, 750, 999, 1000)])
add("loess_interpolate_which_min", which.min(p) - 1)
write.table(do.call(rbind, out), "golden.tsv", sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(R.version.string, paste("RNGkind:", paste(RNGkind(), collapse = " "))), "r_versions.txt")
