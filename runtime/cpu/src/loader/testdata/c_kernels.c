/* A C compiler's objects for the loader's tests: PC32 to .rodata and .data, PLT32 to a host
 * function, REX_GOTPCRELX to a global in .bss, .eh_frame and its relocations. Regenerate with
 *   gcc -O2 -fPIC -c c_kernels.c -o c_kernels.pic.o
 *   gcc -O2 -fno-pic -c c_kernels.c -o c_kernels.nopic.o
 * (the checked-in objects come from gcc 12.2). Without -fPIC, references are absolute 32-bit
 * (R_X86_64_32S), which cannot reach a region mapped above 2 GiB: a load error. */

static const double k[3] = {1.5, 2.5, 3.5};
static long counter = 41;
long host_add(long, long);

static double pick(int i) { return k[i]; }
double scale(double x, int i) { return x * pick(i); }
long bump(void) { return ++counter; }
long call_host(long a) { return host_add(a, 2) * 2; }
__attribute__((noinline)) static long square(long x) { return x * x; }
long sum_of_squares(long a, long b) { return square(a) + square(b); }
float zeros[100];
float read_zero(int i) { return zeros[i]; }
