"""bench_glm_compare.py: statsmodels on the benchmark data (perf/bench_glm_compare.sh).

Times statsmodels' Logit (Newton) and GLM (IRLS, binomial) on the CSV that
bench_glm --csv wrote, excluding the time to read it, and writes the Logit
coefficients for the agreement check.

usage: python bench_glm_compare.py DATA.csv COEF_OUT.csv
"""
import sys
import time

import numpy as np
import pandas as pd
import statsmodels.api as sm

data = pd.read_csv(sys.argv[1])
y = data["y"].to_numpy(dtype=float)
X = sm.add_constant(data.drop(columns=["patient_id", "y"]).to_numpy(dtype=float))
t0 = time.perf_counter()
logit = sm.Logit(y, X).fit(disp=0, tol=1e-10)
t_logit = time.perf_counter() - t0
t0 = time.perf_counter()
glm = sm.GLM(y, X, family=sm.families.Binomial()).fit()
t_glm = time.perf_counter() - t0
np.savetxt(sys.argv[2], logit.params, fmt="%.17g")
print(f"statsmodels_logit_seconds={t_logit:.4f} iterations={logit.mle_retvals['iterations']}")
print(f"statsmodels_glm_seconds={t_glm:.4f}")
