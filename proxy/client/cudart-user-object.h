/*
 * cudart-user-object.h - what the graphs' calls (cudart-graph.c) tell the
 * user objects (cudart-user-object.c) of the graphs' lives.
 */
#ifndef XMIG_CUDART_USER_OBJECT_H
#define XMIG_CUDART_USER_OBJECT_H

#include <stdbool.h>
#include <stdint.h>

/* An executable graph was made of a graph: it holds the graph's references too. */
void xmig_user_objects_instantiated(uint64_t graph, uint64_t exec);
/* A graph (exec false) or executable graph was destroyed: its references dropped. */
void xmig_user_objects_owner_gone(uint64_t owner, bool exec);

#endif
