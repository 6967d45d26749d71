/* reallib-fake.c - a stand-in library for test-reallib (built under several sonames). */
#ifdef FACADE
int xmig_facade_marker;
#endif
int reallib_fake(void) { return 42; }
