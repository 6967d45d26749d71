/*
 * glpk.c - GLPK, opened at run time only when the exact algorithm is asked
 * for. The xmig binary is carried to GPU machines that lack libglpk, so it
 * must not be linked against it: glpk.h supplies types and constants only.
 */
#include <dlfcn.h>
#include <string.h>

#include "glpk-load.h"

#define GLPK_SONAME "libglpk.so.40"

int xp_glpk_open(struct xp_glpk *g)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define S(f) { "glp_" #f, offsetof(struct xp_glpk, f) }
		S(create_prob), S(delete_prob), S(set_obj_dir), S(add_rows), S(add_cols),
		S(set_row_bnds), S(set_col_bnds), S(set_col_kind), S(set_obj_coef), S(load_matrix),
		S(set_mat_row), S(init_smcp), S(simplex), S(init_iocp), S(intopt), S(mip_status), S(mip_obj_val), S(mip_col_val),
		S(term_out), S(free_env), S(version), S(ios_reason), S(ios_heur_sol),
#undef S
	};
	size_t i;

	memset(g, 0, sizeof(*g));
	g->h = dlopen(GLPK_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!g->h)
		return xmig_error("the ilp algorithm needs GLPK, which is not installed here (%s; "
				  "Debian: apt-get install libglpk40)", dlerror());
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *f = dlsym(g->h, syms[i].name);

		if (!f) {
			xmig_error("%s lacks %s; the ilp algorithm needs GLPK 4.65 or later",
				   GLPK_SONAME, syms[i].name);
			xp_glpk_close(g);
			return -1;
		}
		memcpy((char *)g + syms[i].off, &f, sizeof(f));
	}
	g->term_out(GLP_OFF);
	return 0;
}

void xp_glpk_close(struct xp_glpk *g)
{
	if (g->free_env)
		g->free_env();   /* (else each open leaves about 8 kB behind) */
	if (g->h)
		dlclose(g->h);
	memset(g, 0, sizeof(*g));
}
