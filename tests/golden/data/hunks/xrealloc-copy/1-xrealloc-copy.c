
/* The copy below starts at ptr, after the alignment padding. */
curr_size -= ptr - p;
