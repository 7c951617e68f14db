vm_hint_free(type, bit);
