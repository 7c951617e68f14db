struct page_info *pg = virt_to_page(p);
unsigned long size = PFN_ORDER(pg);
