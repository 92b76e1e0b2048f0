/*
 * The mini machine of the example VMM: guest-physical map, ports and
 * device registers. Included by the VMM (C) and by the guest (guest.S,
 * through the C preprocessor), so it holds nothing but #defines.
 */
#ifndef VMM_HW_H
#define VMM_HW_H

/* RAM: 2 MiB at 0. The guest's stack grows down from STACK_TOP. */
#define RAM_SIZE  0x200000
#define STACK_TOP 0x80000

/* VGA framebuffer: 16 text rows, one page per row, so a dirty page is a dirty row. */
#define VGA_BASE   0xA0000
#define VGA_ROWS   16
#define VGA_STRIDE 0x1000
#define VGA_COLS   64

/* The BIOS ROM sits below 4 GiB; the chipset's PAM window shows it, or RAM, at 0xF0000. */
#define BIOS_HIGH_BASE 0xFFFF0000
#define BIOS_LOW_BASE  0xF0000
#define BIOS_SIZE      0x10000

/* Chipset registers (MMIO, 32-bit accesses). */
#define CHIPSET_BASE    0xFED00000
#define CHIPSET_SIZE    0x1000
#define CHIPSET_PAM     0x00 /* W: PAM_* mode of the 0xF0000 window */
#define CHIPSET_DISPLAY 0x04 /* W: refresh the display (redraws the dirty rows) */
#define CHIPSET_BAR0    0x08 /* R/W: base address of the device's MMIO window */
#define PAM_ROM         0    /* reads and executes the ROM; writes are dropped */
#define PAM_RAM_RO      1    /* RAM, write-protected */
#define PAM_RAM_RW      3    /* RAM */

/* The PCI-like device: a 4 KiB MMIO window (BAR 0) the guest can move. */
#define DEV_BAR_INITIAL  0xE0000000
#define DEV_BAR_MOVED    0xE0100000
#define DEV_BAR_SIZE     0x1000
#define DEV_ID           0x00  /* R: DEV_ID_VALUE */
#define DEV_SCRATCH      0x04  /* R/W */
#define DEV_DOORBELL     0x08  /* W: DOORBELL_KICK signals an ioeventfd without an exit */
#define DEV_RINGS        0x0C  /* R: doorbell rings taken from the eventfd since the last read */
#define DEV_OTHER_WRITES 0x10  /* R: doorbell writes that reached the device (no data match) */
#define DEV_FIFO_COUNT   0x14  /* R: words written to the FIFO */
#define DEV_FIFO_SUM     0x18  /* R: their sum */
#define DEV_FIFO         0x100 /* W: FIFO window 0x100-0x1ff, coalesced (buffered by KVM) */
#define DEV_FIFO_SIZE    0x100
#define DEV_ID_VALUE     0x5644524D
#define DOORBELL_KICK    0x1

/* Port I/O. */
#define UART_PORT 0x3F8 /* 16550-like: THR at +0, LSR at +5 */

#endif /* VMM_HW_H */
