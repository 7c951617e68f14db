void *va;

