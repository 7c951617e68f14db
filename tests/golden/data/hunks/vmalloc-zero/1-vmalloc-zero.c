/* Nothing would be reserved, yet a VA would be handed out. */
if ( WARN_ON(!size) )
    return NULL;
