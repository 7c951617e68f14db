/*
 * Per region and alignment 2^k, at index ffs(2^k) = k + 1: no allocation of
 * 2^k pages aligned to 2^k fits at or below the hint.  vm_low does not do
 * for them: it stays below every hole that alignment leaves, and the scan
 * would visit every allocation above the first such hole.
 */
/*
 * ffs() of vm_alloc()'s unsigned int align, which is never 0: slot 0 stays
 * unused, so that no index is out of bounds even to the compiler.
 */
#define VM_HINT_SLOTS (sizeof(unsigned int) * 8 + 1)
static unsigned int vm_hint[VMAP_REGION_NR][VM_HINT_SLOTS];

/* Where to scan for nr pages aligned to align, a power of two. */
static unsigned int vm_scan_start(enum vmap_region t, unsigned int nr,
                                  unsigned int align)
{
    unsigned int start = vm_hint[t][ffs(align)];

    /* A hint also holds for more pages, but not for fewer. */
    if ( nr < align || start <= vm_low[t] )
        return vm_low[t];

    /* The scan's first bit is a guard, so it must be clear. */
    if ( start < vm_top[t] && test_bit(start, vm_bitmap(t)) )
        start = min_t(unsigned int, vm_top[t],
                      find_next_zero_bit(vm_bitmap(t), vm_top[t], start));

    return start;
}

/*
 * Bits from bit on were freed.  An allocation of 2^k pages needs the bit
 * after it clear too, so one that uses them has its guard at
 * bit - 2^k - 1 or above.
 */
static void vm_hint_free(enum vmap_region t, unsigned int bit)
{
    unsigned int k;

    for ( k = 1; k < VM_HINT_SLOTS; k++ )
    {
        /* 2^(k - 1) pages and their guard */
        unsigned int reach = (1U << (k - 1)) + 1;

        vm_hint[t][k] = min(vm_hint[t][k], bit - min(bit, reach));
    }
}
