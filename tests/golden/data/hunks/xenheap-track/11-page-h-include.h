
#include <asm/xenheap-vmap.h>
