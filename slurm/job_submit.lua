--[[
job_submit.lua: keeps sluice jobs on the enclave partitions and everything
else off them. A site copies it beside slurm.conf (slurmctld reads
job_submit.lua from slurm.conf's directory) and sets in slurm.conf:

    JobSubmitPlugins=lua

Why: the enclave partitions' nodes are where cohorts are decrypted. Routing
sluice jobs there and keeping other jobs off them means a researcher's
sluice job lands on the enclave without them naming it, and no unrelated
code shares those nodes. The rules, at submission:

  1. A job "runs sluice" when a line of its batch script, shell comments
     removed, matches `sluice_command` below (e.g. `srun --mpi=pmix sluice run
     job.yaml`). Interactive jobs (srun, salloc) have no script and never do.
  2. A sluice job that names no partition is routed to `default_partition`.
  3. A sluice job that names a partition outside the enclave is rejected.
  4. A job that does not run sluice is rejected on an enclave partition.
  5. The emergency partition counts as part of the enclave, and only users
     in `emergency_users` may submit to it.
  6. Moving a job into or between enclave partitions later (scontrol update)
     is rejected; jobs stay where these rules put them.

Each rejection tells the user why through slurm.log_user (sbatch prints it
as "sbatch: error: ...").

This is routing and hygiene, not the security boundary: a script can run
other commands beside sluice. The boundary is sluice itself, which asks
the controller about its own job (enclave partition, node, owner, running)
before it unwraps any key, and the key's file permissions on enclave nodes.

Configuration (edit here; keep it in step with the sluice policy's
`enclave` and `emergency` settings):

  key                   meaning                                      default
  enclave_partitions    partitions only sluice jobs may use          { "enclave" }
  default_partition     where sluice jobs without a partition go     "enclave"
  emergency_partition   emergency partition (higher PriorityTier),   "urgent"
                        also enclave; nil if the site has none
  emergency_users       user names allowed on the emergency          { "root" }
                        partition
  sluice_command        Lua pattern a script line must match for     see below
                        the job to count as a sluice job
]]

local config = {
    enclave_partitions = { "enclave" },
    default_partition = "enclave",
    emergency_partition = "urgent",
    emergency_users = { "root" },
    -- "sluice" as a whole word (optionally after a path, optionally quoted),
    -- then "run" as a whole word.
    sluice_command = "%f[%w_%-%.]sluice['\"]?%s+run%f[^%w_%-%.]",
}

local function contains(list, value)
    for _, v in ipairs(list) do
        if v == value then
            return true
        end
    end
    return false
end

local function enclave_list()
    local names = table.concat(config.enclave_partitions, ", ")
    if config.emergency_partition ~= nil then
        names = names .. ", or the emergency partition " .. config.emergency_partition
    end
    return names
end

local function is_enclave(partition)
    return contains(config.enclave_partitions, partition)
        or (config.emergency_partition ~= nil and partition == config.emergency_partition)
end

local function split_partitions(text)
    local parts = {}
    for p in string.gmatch(text, "[^,%s]+") do
        parts[#parts + 1] = p
    end
    return parts
end

local function runs_sluice(script)
    if script == nil then
        return false
    end
    for line in string.gmatch(script, "[^\n]+") do
        -- Shell comments (whole lines, or from a word-initial #) do not count.
        local code = string.gsub(string.gsub(line, "^%s*#.*$", ""), "%s#.*$", "")
        if string.match(code, config.sluice_command) then
            return true
        end
    end
    return false
end

local function reject(fmt, ...)
    slurm.log_user("%s", "sluice: " .. string.format(fmt, ...))
    return slurm.ERROR
end

-- Checks that `user` may use every partition in `parts`, given whether the
-- job runs sluice. Returns slurm.SUCCESS or the rejection.
local function check_partitions(parts, sluice, user)
    for _, p in ipairs(parts) do
        if sluice and not is_enclave(p) then
            return reject("this job runs sluice, which only runs on the enclave partitions (%s); "
                .. "remove --partition=%s or name one of them", enclave_list(), p)
        end
        if not sluice and is_enclave(p) then
            return reject("partition '%s' is reserved for sluice jobs (a script line like "
                .. "'srun sluice run job.yaml'); submit other work to another partition", p)
        end
        if p == config.emergency_partition and not contains(config.emergency_users, user) then
            return reject("user '%s' may not use the emergency partition '%s'; "
                .. "ask the operators to be listed, or submit to another enclave partition",
                tostring(user), p)
        end
    end
    return slurm.SUCCESS
end

function slurm_job_submit(job_desc, part_list, submit_uid)
    local sluice = runs_sluice(job_desc.script)
    local user = job_desc.user_name
    if job_desc.partition == nil or job_desc.partition == "" then
        if sluice then
            job_desc.partition = config.default_partition
            slurm.log_user("%s", "sluice: job routed to the enclave partition '"
                .. config.default_partition .. "'")
        end
        return slurm.SUCCESS
    end
    return check_partitions(split_partitions(job_desc.partition), sluice, user)
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
    if job_desc.partition == nil or job_desc.partition == job_rec.partition then
        return slurm.SUCCESS
    end
    local parts = split_partitions(job_desc.partition)
    local now_enclave = job_rec.partition ~= nil and is_enclave(job_rec.partition)
    for _, p in ipairs(parts) do
        if is_enclave(p) or now_enclave then
            return reject("job %d may not move from partition '%s' to '%s': jobs enter or leave "
                .. "the enclave only at submission", job_rec.job_id, tostring(job_rec.partition), p)
        end
    end
    return slurm.SUCCESS
end

slurm.log_info("sluice job_submit.lua loaded: enclave partitions %s, emergency partition %s",
    table.concat(config.enclave_partitions, ","), tostring(config.emergency_partition))

return slurm.SUCCESS
