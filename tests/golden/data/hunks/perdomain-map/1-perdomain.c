/* It may not be in the direct map: unmapped below. */
l1tab = __map_domain_page(pg);
