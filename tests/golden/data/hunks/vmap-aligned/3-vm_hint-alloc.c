/* start was the first fit for its order: none fits up to its end. */
if ( nr == align )
    vm_hint[t][ffs(align)] = bit;
