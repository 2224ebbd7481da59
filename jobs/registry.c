/* placeholder replaced by the job registry */
typedef int sl_jobs_placeholder;
