# bench_glm_compare.R: R's glm on the benchmark data (perf/bench_glm_compare.sh).
# Times glm(y ~ x1 + ... + xK, binomial) excluding the time to read the CSV,
# and writes the coefficients for the agreement check.
# usage: Rscript bench_glm_compare.R DATA.csv COEF_OUT.csv
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], colClasses = c(patient_id = "character"))
d$patient_id <- NULL
f <- as.formula(paste("y ~", paste(setdiff(names(d), "y"), collapse = " + ")))
t <- system.time(fit <- glm(f, family = binomial, data = d))[["elapsed"]]
writeLines(sprintf("%.17g", coef(fit)), args[2])
cat(sprintf("r_glm_seconds=%.4f iterations=%d\n", t, fit$iter))
