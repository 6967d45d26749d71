/* jobs.h - the jobs of this node, as their proxies describe themselves. */
#ifndef XMIG_JOBS_H
#define XMIG_JOBS_H

#include <jansson.h>

/* One status object per process (all jobs if job == NULL); new reference. */
json_t *cmd_jobs_status(const char *job);
/* The index among this command's GPUs of device kind `device` of the GPU with uuid; -1 if none. */
int cmd_gpu_by_uuid(const char *device, const char *uuid);
/* The processes of one job (rank -1: all), or an error and *status. */
json_t *cmd_jobs_find(const char *job, int rank, int *status);

#endif
