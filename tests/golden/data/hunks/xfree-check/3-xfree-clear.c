PFN_ORDER(pg) = 0;
