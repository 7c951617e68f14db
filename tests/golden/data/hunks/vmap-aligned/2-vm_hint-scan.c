for ( start = vm_scan_start(t, nr, align); start < vm_top[t]; )
