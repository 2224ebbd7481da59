# make_reference.R: exports the real data sets the glm agreement tests use and
# fits every reference model with R's glm, writing the numbers sluice must
# reproduce (to 1e-6 relative) as CSV beside this script.
#
#   Rscript tests/data/glm/make_reference.R        (from the repository root)
#
# Needs Debian's r-base-core, r-cran-mass and r-cran-survival. Outputs:
#   birthwt.csv, pima_tr.csv, lung.csv   the data (with an id column added,
#                                        categorical codes spelt out as labels)
#   generated.csv                        20000 seeded patients from R's generator
#   models.csv                           one line per model: data, formula,
#                                        family, weights, offset, reference
#   reference_model.csv                  model-level results
#   reference_coef.csv                   coefficient tables (NA = aliased)
suppressPackageStartupMessages({
  library(MASS)
  library(survival)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
out <- function(name) file.path(here, name)
num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

# ---- data ----
bw <- birthwt
bw$id <- seq_len(nrow(bw))
bw$race <- c("white", "black", "other")[bw$race]
bw$w <- 1 + bw$id %% 3
bw$o <- 10 * (bw$id %% 5)
bw$o2 <- 0.1 * (bw$id %% 4) - 0.15
bw$lwt2 <- 2 * bw$lwt + 1
bw <- bw[, c("id", "low", "age", "lwt", "race", "smoke", "ptl", "ht", "ui", "ftv", "bwt",
             "w", "o", "o2", "lwt2")]
write.csv(bw, out("birthwt.csv"), row.names = FALSE, na = "NA", quote = FALSE)

pm <- Pima.tr
pm$id <- seq_len(nrow(pm))
pm$type <- as.character(pm$type)
pm <- pm[, c("id", "npreg", "glu", "bp", "skin", "bmi", "ped", "age", "type")]
write.csv(pm, out("pima_tr.csv"), row.names = FALSE, na = "NA", quote = FALSE)

lg <- lung
lg$id <- seq_len(nrow(lg))
lg$sex <- c("male", "female")[lg$sex]
lg$dead <- as.integer(lg$status == 2)
lg <- lg[, c("id", "inst", "time", "status", "dead", "age", "sex", "ph.ecog", "ph.karno",
             "pat.karno", "meal.cal", "wt.loss")]
write.csv(lg, out("lung.csv"), row.names = FALSE, na = "NA", quote = FALSE)

# Generated data (R's own generator, seeded): 20000 patients, a four-level
# factor, an interaction and 2% missing values in x3.
set.seed(20261101)
ng <- 20000
gen <- data.frame(id = seq_len(ng))
for (j in 1:6) gen[[paste0("x", j)]] <- round(rnorm(ng), 4)
gen$g <- sample(c("a", "b", "c", "d"), ng, replace = TRUE, prob = c(0.4, 0.3, 0.2, 0.1))
eta <- with(gen, -0.3 + 0.5 * x1 - 0.25 * x2 + 0.2 * x3 + 0.1 * x4 * x5 +
                 c(a = 0, b = 0.3, c = -0.4, d = 0.8)[g] + 0.2 * x2 * (g == "c"))
gen$y <- rbinom(ng, 1, plogis(eta))
gen$yc <- round(10 + 2 * eta + rnorm(ng, sd = 1.5), 4)
gen$x3[sample(ng, ng / 50)] <- NA
write.csv(gen, out("generated.csv"), row.names = FALSE, na = "NA", quote = FALSE)

# Data as R models them: categorical columns as factors with the levels the
# cohort schema declares (tests/data/glm/*.schema.yaml).
data <- list(
  birthwt = transform(read.csv(out("birthwt.csv")),
                      race = factor(race, levels = c("white", "black", "other"))),
  pima_tr = transform(read.csv(out("pima_tr.csv")), type = factor(type, levels = c("No", "Yes"))),
  lung = transform(read.csv(out("lung.csv")), sex = factor(sex, levels = c("male", "female"))),
  generated = transform(read.csv(out("generated.csv")), g = factor(g, levels = c("a", "b", "c", "d"))))

# ---- models ----
models <- read.csv(text = "
model,data,formula,family,weights,offset,reference
birthwt_logit,birthwt,low ~ age + lwt + race + smoke + ptl + ht + ui,binomial,,,
birthwt_gauss,birthwt,bwt ~ age + lwt + race + smoke + ptl + ht + ui,gaussian,,,
birthwt_inter,birthwt,low ~ age*smoke + race:lwt + ui,binomial,,,
birthwt_gauss_wo,birthwt,bwt ~ race + smoke + lwt,gaussian,w,o,
birthwt_logit_wo,birthwt,low ~ race + smoke + lwt,binomial,w,o2,
birthwt_ref,birthwt,low ~ race + smoke,binomial,,,race=black
birthwt_noint,birthwt,low ~ 0 + race + age,binomial,,,
birthwt_alias,birthwt,low ~ age + lwt + lwt2 + smoke,binomial,,,
pima_logit,pima_tr,type ~ npreg + glu + bp + skin + bmi + ped + age,binomial,,,
lung_gauss,lung,wt.loss ~ age + sex + ph.ecog,gaussian,,,
lung_logit,lung,dead ~ age + sex + ph.ecog + meal.cal,binomial,,,
generated_logit,generated,y ~ x1 + x2*g + x3 + x4:x5 + x6,binomial,,,
generated_gauss,generated,yc ~ x1 + x2 + g + x3:x4 + x5 + x6,gaussian,,,g=c
", stringsAsFactors = FALSE, na.strings = "", strip.white = TRUE)

mrows <- list()
crows <- list()
for (i in seq_len(nrow(models))) {
  m <- models[i, ]
  d <- data[[m$data]]
  if (!is.na(m$reference)) {
    kv <- strsplit(m$reference, "=")[[1]]
    d[[kv[1]]] <- relevel(d[[kv[1]]], ref = kv[2])
  }
  fam <- if (m$family == "binomial") binomial() else gaussian()
  n_all <- nrow(d)
  cl <- call("glm", as.formula(m$formula), family = fam, data = quote(d))
  if (!is.na(m$weights)) cl$weights <- as.name(m$weights)
  if (!is.na(m$offset)) cl$offset <- as.name(m$offset)
  fit <- eval(cl)
  s <- summary(fit)
  n_used <- sum(fit$prior.weights > 0)
  mrows[[i]] <- data.frame(
    model = m$model, n = n_used, n_dropped = n_all - nrow(fit$model),
    df_residual = fit$df.residual, df_null = fit$df.null, rank = fit$rank,
    deviance = num(fit$deviance), null_deviance = num(fit$null.deviance), aic = num(fit$aic),
    dispersion = num(s$dispersion), iterations = fit$iter, converged = fit$converged)
  b <- coef(fit)
  ci <- confint.default(fit)
  ct <- coef(s)
  for (term in names(b)) {
    ok <- term %in% rownames(ct)
    crows[[length(crows) + 1]] <- data.frame(
      model = m$model, term = term,
      estimate = num(b[[term]]),
      std_error = num(if (ok) ct[term, 2] else NA),
      statistic = num(if (ok) ct[term, 3] else NA),
      p_value = num(if (ok) ct[term, 4] else NA),
      ci_lower = num(if (ok) ci[term, 1] else NA),
      ci_upper = num(if (ok) ci[term, 2] else NA))
  }
}
write.csv(models, out("models.csv"), row.names = FALSE, na = "", quote = TRUE)
write.csv(do.call(rbind, mrows), out("reference_model.csv"), row.names = FALSE, quote = FALSE)
write.csv(do.call(rbind, crows), out("reference_coef.csv"), row.names = FALSE, quote = TRUE)
cat("wrote", nrow(models), "models to", here, "\n")
