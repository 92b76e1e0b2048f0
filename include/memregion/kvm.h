/*
 * memregion KVM backend (library libmemregion-kvm, pkg-config name
 * memregion-kvm). Not part of the umbrella memregion.h: include this header
 * and link the extra library only when you want KVM.
 *
 * A MemregionKvm is one KVM virtual machine whose memory map is a memregion
 * AddressSpace. Listeners keep KVM in sync with the address spaces you
 * attach, using nothing but the listener API:
 *
 * Memory slots (attach_memory). Every flat range served by RAM, a ROM, or a
 * ROM device in romd mode becomes one KVM memory slot; region_add creates
 * it, region_del deletes it (one KVM_SET_USER_MEMORY_REGION each). The slot
 * points at the region's own host memory (memory_region_get_ram_ptr() plus
 * the range's offset): memory is mapped, never copied. Slot rules:
 *   - Read-only ranges (ROM, a read-only alias, a ROM device in romd mode)
 *     get KVM_MEM_READONLY: guest reads run at native speed, a guest write
 *     exits as MMIO and is dispatched through the address space, where a
 *     ROM drops it and a ROM device's write callback receives it. Without
 *     KVM_CAP_READONLY_MEM such ranges get no slot.
 *   - Page alignment: a slot covers the largest part of the range whose
 *     guest address, size and host address are multiples of the page size
 *     (4096). The unaligned head and tail bytes of the range, or the whole
 *     range when host and guest addresses are not congruent modulo the page
 *     size, stay MMIO.
 *   - Size: a range whose aligned part is larger than the maximum slot size
 *     (KVM's limit of 2^31 - 1 pages, or MemregionKvmConfig.max_slot_size)
 *     gets no slot and stays MMIO as a whole.
 *   - Slot limit: when every slot number KVM offers (KVM_CAP_NR_MEMSLOTS, or
 *     MemregionKvmConfig.max_slots) is in use, a new range stays MMIO and an
 *     error is recorded.
 *   - Slot numbers are reused: a new slot takes the lowest free number.
 *   - MMIO regions, and ROM devices with romd mode off, get no slot.
 * "Stays MMIO" is always correct, only slower: guest accesses there exit to
 * the vCPU helper, which dispatches them through the address space, and
 * the address space serves RAM from the same host memory. Instruction fetch
 * from such a range is the exception: KVM cannot execute from MMIO.
 *
 * Dirty logging. A slot whose range logs for any client (VGA, CODE,
 * MIGRATION, global logging included) carries KVM_MEM_LOG_DIRTY_PAGES;
 * log_start and log_stop flip the flag with one ioctl. log_sync (reached
 * through memory_region_snapshot_and_clear_dirty() or
 * memory_global_dirty_log_sync()) reads KVM_GET_DIRTY_LOG and marks the
 * pages with memory_region_set_dirty(). A slot that is deleted or stops
 * logging is synced first, so no dirty page is lost.
 *
 * Coalesced MMIO and PIO. coalesced_io_add/del become
 * KVM_REGISTER/UNREGISTER_COALESCED_MMIO (pio = 1 on the I/O address space,
 * which needs KVM_CAP_COALESCED_PIO). KVM buffers the writes in a ring; the
 * vCPU helper drains the ring into the address spaces (in the order the
 * guest wrote) before it dispatches any exit, so a device always sees its
 * buffered writes before any other access. Entries are written into the
 * address spaces given to attach_memory / attach_io with
 * MEMTXATTRS_UNSPECIFIED. A VMM thread that reads device state or changes
 * the map of a coalescing device while vCPUs run calls
 * memregion_kvm_flush_coalesced() first.
 *
 * ioeventfd. eventfd_add/del become KVM_IOEVENTFD (memory on the memory
 * space, KVM_IOEVENTFD_FLAG_PIO on the I/O space), with
 * KVM_IOEVENTFD_FLAG_DATAMATCH when the entry matches data. The data value
 * is converted from the device's endianness to the bytes the guest writes.
 * When KVM refuses an entry (for example a data match with size 0) the error
 * is recorded and the write still works: it exits, and memregion's software
 * path signals the eventfd.
 *
 * Errors come through two channels, neither of them memregion_last_error():
 * - Calls that return an int (memregion_kvm_open, _attach_memory/_io,
 *   _vcpu_create, _vcpu_run) return 0 or a negative errno, and leave the
 *   message in a thread-local buffer of this library:
 *   memregion_kvm_last_error(NULL) on the calling thread.
 * - Listener callbacks cannot fail, so KVM's errors while applying the map
 *   (slot limit, EEXIST when a slot would overlap one KVM already has,
 *   EINVAL, ENOMEM...) are recorded on the VM: a readable message
 *   (memregion_kvm_last_error(kvm)), a counter (memregion_kvm_error_count())
 *   and an optional callback. Check them after a commit.
 * Nothing a guest or a map change does aborts the process.
 *
 * Thread rules. Functions marked "writer-side" take memregion's writer
 * lock (or run inside a listener callback, which holds it). The vCPU
 * functions run on the vCPU's own thread; several vCPUs may run at once.
 * Statistics and error accessors may be called from any thread.
 *
 * The backend targets x86 hosts (port I/O exits, the coalesced PIO ring);
 * the register setup of a vCPU belongs to the VMM (use the vCPU fd).
 */
#ifndef MEMREGION_KVM_H
#define MEMREGION_KVM_H

#include "address_space.h"

MEMREGION_API_BEGIN

struct kvm_run;

/** A KVM virtual machine driven by memregion address spaces. Opaque. */
typedef struct MemregionKvm MemregionKvm;
/** One vCPU of a MemregionKvm. Opaque. */
typedef struct MemregionKvmVcpu MemregionKvmVcpu;

/** Called for every recorded error, on the thread that hit it. */
typedef void (*MemregionKvmErrorFn)(void *opaque, int err, const char *message);

/** Options of memregion_kvm_open(). Zero-initialise; every field is optional. */
typedef struct MemregionKvmConfig {
    /** KVM device to open; NULL means "/dev/kvm". Borrowed during the call. */
    const char *device;
    /** Use at most this many slot numbers; 0 means what KVM offers. */
    unsigned max_slots;
    /** Largest slot in bytes (rounded down to pages); 0 means KVM's limit. */
    uint64_t max_slot_size;
    /** Give read-only ranges no slot, as when KVM lacks KVM_CAP_READONLY_MEM. */
    bool no_readonly_slots;
    /** Optional error callback; must not call back into the backend. */
    MemregionKvmErrorFn on_error;
    void *error_opaque;
} MemregionKvmConfig;

/**
 * Counters of a VM, for tests and reports. All count since
 * memregion_kvm_open() (they are never reset).
 */
typedef struct MemregionKvmStats {
    uint64_t set_memory_region;       /**< KVM_SET_USER_MEMORY_REGION calls, all kinds */
    uint64_t slots_created;           /**< slots created (region_add) */
    uint64_t slots_deleted;           /**< slots deleted (region_del) */
    uint64_t slots_reused;            /**< creations that took a slot number used before */
    uint64_t slot_flag_updates;       /**< dirty-log flag changes (log_start/log_stop) */
    uint64_t slots_active;            /**< slots that exist now */
    uint64_t ranges_mmio;             /**< RAM-backed ranges left without a slot (rules above) */
    uint64_t dirty_log_ioctls;        /**< KVM_GET_DIRTY_LOG calls */
    uint64_t dirty_pages;             /**< dirty pages KVM reported and memregion was told of */
    uint64_t coalesced_zones_added;   /**< KVM_REGISTER_COALESCED_MMIO calls that succeeded */
    uint64_t coalesced_zones_removed; /**< KVM_UNREGISTER_COALESCED_MMIO calls that succeeded */
    uint64_t coalesced_drained;       /**< ring entries written into the address spaces */
    uint64_t ioeventfds_added;        /**< KVM_IOEVENTFD assignments that succeeded */
    uint64_t ioeventfds_removed;      /**< KVM_IOEVENTFD deassignments that succeeded */
    uint64_t errors;                  /**< recorded errors */
    /* exits of all vCPUs, by kind */
    uint64_t exit_mmio_read;
    uint64_t exit_mmio_write;
    uint64_t exit_pio_in;
    uint64_t exit_pio_out;
    uint64_t exit_hlt;
    uint64_t exit_intr;       /**< KVM_RUN interrupted (signal, immediate_exit) */
    uint64_t exit_shutdown;   /**< triple fault and the like */
    uint64_t exit_other;      /**< everything else (internal error, failed entry, ...) */
    uint64_t dispatch_errors; /**< MMIO/PIO exits whose dispatch gave a MemTxResult != OK */
} MemregionKvmStats;

/** One KVM memory slot as the backend keeps it (memregion_kvm_get_slots()). */
typedef struct MemregionKvmSlot {
    uint32_t slot;            /**< KVM slot number */
    uint32_t flags;           /**< KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY */
    uint64_t guest_phys_addr; /**< first guest address */
    uint64_t size;            /**< bytes, a multiple of the page size */
    void *host;               /**< host address of the first byte (the region's memory) */
    MemoryRegion *mr;         /**< the region whose memory it maps */
    hwaddr offset_in_region;  /**< offset in @mr of the first byte */
} MemregionKvmSlot;

/* ---- the VM ------------------------------------------------------------------- */

/**
 * Open the KVM device and create a VM. On success *@out owns the VM (free
 * it with memregion_kvm_close()). @config may be NULL.
 * Errors: -ENODEV when the device is missing (tests skip on it), -EACCES,
 * -EPROTO when KVM's API version is not 12 or KVM lacks user memory,
 * -EINVAL (bad config), -ENOMEM, or the errno of a failed ioctl; the message
 * is memregion_kvm_last_error(NULL) on the calling thread.
 * Thread rules: any thread.
 */
int memregion_kvm_open(MemregionKvm **out, const MemregionKvmConfig *config);

/**
 * Detach both listeners (which deletes every slot, coalesced zone and
 * ioeventfd the backend created), destroy remaining vCPUs, and close the
 * VM. The address spaces stay alive. NULL is ignored.
 * Thread rules: writer-side; no vCPU may be running.
 */
void memregion_kvm_close(MemregionKvm *kvm);

/** The VM file descriptor, for architecture setup (KVM_SET_TSS_ADDR, irqchip...). Owned by @kvm.
 */
int memregion_kvm_vm_fd(const MemregionKvm *kvm);

/** The KVM device file descriptor (KVM_CHECK_EXTENSION, KVM_GET_SUPPORTED_CPUID...). Owned. */
int memregion_kvm_dev_fd(const MemregionKvm *kvm);

/**
 * Make @as the guest-physical address space: register a listener that
 * keeps slots, coalesced MMIO zones and memory ioeventfds equal to it. The
 * current map is applied at once (replayed). @as is borrowed until
 * memregion_kvm_detach() or close.
 * Errors: -EINVAL (NULL), -EBUSY (a memory space is already attached).
 * KVM errors met while applying the map are recorded, not returned.
 * Thread rules: writer-side.
 */
int memregion_kvm_attach_memory(MemregionKvm *kvm, AddressSpace *as);

/**
 * Make @as the port I/O space (x86: 64 KiB): a listener keeps coalesced PIO
 * zones and PIO ioeventfds equal to it. Same rules as attach_memory.
 */
int memregion_kvm_attach_io(MemregionKvm *kvm, AddressSpace *as);

/**
 * Unregister both listeners; their replayed removals delete every slot,
 * zone and ioeventfd. vCPUs must not be running. Writer-side.
 */
void memregion_kvm_detach(MemregionKvm *kvm);

/**
 * Apply every buffered coalesced write now, in order: memory entries to
 * the attached memory space, PIO entries to the I/O space. Returns the
 * number of entries applied (0 when no vCPU exists yet: the ring lives in
 * the vCPU mapping). Any thread; serialised with the vCPUs' own draining.
 */
size_t memregion_kvm_flush_coalesced(MemregionKvm *kvm);

/* ---- errors and statistics -------------------------------------------------------- */

/**
 * The message of the last recorded error of @kvm (an error met while
 * applying the map), or "" when none. The string is a copy in storage of the
 * calling thread, valid until the next call of this function on that thread.
 * With @kvm NULL: the message of the last failing int-returning call of this
 * library on the calling thread (open, attach, vCPU create, run). Any thread.
 */
const char *memregion_kvm_last_error(const MemregionKvm *kvm);

/** Number of errors recorded so far. Any thread. */
uint64_t memregion_kvm_error_count(const MemregionKvm *kvm);

/** Forget the last error message (the counter keeps counting). Any thread. */
void memregion_kvm_clear_error(MemregionKvm *kvm);

/** Copy the counters into @out. Any thread; each counter is read atomically. */
void memregion_kvm_get_stats(const MemregionKvm *kvm, MemregionKvmStats *out);

/**
 * Copy up to @max slots, in ascending guest address order, into @out (may
 * be NULL when @max is 0). Returns how many slots exist. Writer-side: take
 * it between commits, or hold a transaction open.
 */
size_t memregion_kvm_get_slots(const MemregionKvm *kvm, MemregionKvmSlot *out, size_t max);

/* ---- vCPUs ------------------------------------------------------------------------- */

/**
 * Create vCPU number @index (KVM_CREATE_VCPU) and map its kvm_run area.
 * MMIO exits dispatch into @mem, port I/O exits into @io, both with
 * attrs.requester_id = @index. @mem may be a per-vCPU view (another
 * address space whose tree shows the guest-physical one plus the vCPU's
 * own regions): it only serves addresses without a slot, because slots
 * come from the attached memory space. @io may be NULL (port accesses then
 * fail as unassigned). Both are borrowed while the vCPU exists.
 * On success *@out is owned by @kvm (freed by close or vcpu_destroy).
 * Errors: -EINVAL, -EEXIST (index taken), -ENOMEM, ioctl errno.
 * Thread rules: any thread, not concurrently with close.
 */
int memregion_kvm_vcpu_create(MemregionKvm *kvm, unsigned index, AddressSpace *mem,
                              AddressSpace *io, MemregionKvmVcpu **out);

/** Unmap and close a vCPU. It must not be running. NULL is ignored. */
void memregion_kvm_vcpu_destroy(MemregionKvmVcpu *vcpu);

/** The vCPU fd, for register setup (KVM_SET_REGS, KVM_SET_SREGS...). Owned by the vCPU. */
int memregion_kvm_vcpu_fd(const MemregionKvmVcpu *vcpu);

/** The vCPU's shared kvm_run area (set immediate_exit here to stop it). Owned by the vCPU. */
struct kvm_run *memregion_kvm_vcpu_run_area(MemregionKvmVcpu *vcpu);

/** The vCPU index given at creation. */
unsigned memregion_kvm_vcpu_index(const MemregionKvmVcpu *vcpu);

/**
 * Switch the address spaces exits dispatch into (an SMM or mode switch);
 * NULL keeps the current one. Call it from the vCPU's thread, or while it
 * does not run.
 */
void memregion_kvm_vcpu_set_address_spaces(MemregionKvmVcpu *vcpu, AddressSpace *mem,
                                           AddressSpace *io);

/**
 * Run the vCPU until an exit the helper does not handle. It handles
 * KVM_EXIT_MMIO (dispatch into the memory space, reads fill the exit's
 * data) and KVM_EXIT_IO (dispatch of every element of a string
 * instruction into the I/O space), each after draining the coalesced ring.
 * It returns the KVM_EXIT_* reason of the first other exit: KVM_EXIT_HLT,
 * KVM_EXIT_SHUTDOWN, KVM_EXIT_INTR (a signal or immediate_exit interrupted
 * KVM_RUN), KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_FAIL_ENTRY... with the
 * details in the kvm_run area. Returns a negative errno (and records an
 * error) when KVM_RUN itself fails otherwise, and -EBUSY (with a message
 * for memregion_kvm_last_error(NULL)) without running when the thread
 * holds a read section (memregion_read_section_begin): KVM_RUN blocks.
 * Thread rules: the vCPU's thread; one call at a time per vCPU.
 */
int memregion_kvm_vcpu_run(MemregionKvmVcpu *vcpu);

/**
 * Per-vCPU exit counters (the exit_* and dispatch_errors fields of @out;
 * the others are zero). Any thread.
 */
void memregion_kvm_vcpu_get_stats(const MemregionKvmVcpu *vcpu, MemregionKvmStats *out);

MEMREGION_API_END

#endif /* MEMREGION_KVM_H */
