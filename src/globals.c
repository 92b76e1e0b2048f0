/*
 * The definitions of the process globals that globals.h lists, with their
 * initial values.
 */
#include "globals.h"

struct MrWriterState mr_ws = {
    .current_gen = 1,
    .topo_epoch = 1,
    .treap_seed = 2463534242u,
    .dirty_page_shift = 12,
};

MR_THREAD struct MrThreadState mr_ts;

MR_THREAD unsigned mr_writer_depth;

MR_THREAD struct MrSection mr_section;

pthread_mutex_t mr_writer_mutex = PTHREAD_MUTEX_INITIALIZER; /* nesting: base.c counts it */

struct MrCallRecords mr_callrecs = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .key_once = PTHREAD_ONCE_INIT,
};
