/*
 * cluster.h - asking every node of the node list (nodes.conf) through its
 * command prefix, and finding GPUs on this node.
 */
#ifndef XMIG_CLUSTER_H
#define XMIG_CLUSTER_H

#include <jansson.h>

#include "cmd.h"

/* The node list (global --nodes, $XMIG_NODES, /etc/xmig/nodes.conf). */
int cluster_load(struct xmig_nodes *nodes);
/*
 * Run `xmig ARGS... --json` on a node (this one: directly) and parse its
 * output. NULL with a message if it cannot be run or says nothing usable.
 */
json_t *cluster_xmig_json(const struct xmig_node *node, const char *const *args);
/* This node's GPUs and jobs: the "xmig nodes --local" object. */
json_t *cluster_local_node(void);

#endif
