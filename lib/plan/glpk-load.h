/* glpk-load.h - the GLPK calls the ilp algorithm uses, looked up by glpk.c. */
#ifndef XMIG_GLPK_LOAD_H
#define XMIG_GLPK_LOAD_H

#include <stddef.h>

#include <glpk.h>  /* types and constants only: nothing here links to it */

#include "plan.h"

struct xp_glpk {
	void *h;
	glp_prob *(*create_prob)(void);
	void (*delete_prob)(glp_prob *);
	void (*set_obj_dir)(glp_prob *, int);
	int (*add_rows)(glp_prob *, int);
	int (*add_cols)(glp_prob *, int);
	void (*set_row_bnds)(glp_prob *, int, int, double, double);
	void (*set_col_bnds)(glp_prob *, int, int, double, double);
	void (*set_col_kind)(glp_prob *, int, int);
	void (*set_obj_coef)(glp_prob *, int, double);
	void (*load_matrix)(glp_prob *, int, const int[], const int[], const double[]);
	void (*set_mat_row)(glp_prob *, int, int, const int[], const double[]);
	void (*init_smcp)(glp_smcp *);
	int (*simplex)(glp_prob *, const glp_smcp *);
	void (*init_iocp)(glp_iocp *);
	int (*intopt)(glp_prob *, const glp_iocp *);
	int (*mip_status)(glp_prob *);
	double (*mip_obj_val)(glp_prob *);
	double (*mip_col_val)(glp_prob *, int);
	int (*term_out)(int);
	int (*free_env)(void);   /* GLPK's environment of this thread, made by its first call */
	const char *(*version)(void);
	int (*ios_reason)(glp_tree *);
	int (*ios_heur_sol)(glp_tree *, const double[]);
};

/* dlopen libglpk.so.40; -1 with a message naming the package if absent. */
int xp_glpk_open(struct xp_glpk *g);
void xp_glpk_close(struct xp_glpk *g);

#endif
