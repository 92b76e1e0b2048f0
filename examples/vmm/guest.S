/*
 * The example VMM's guest: 32-bit protected mode, flat segments, no paging,
 * no interrupts. The VMM loads this image into the BIOS ROM and starts it
 * at BIOS_HIGH_BASE. The code is position independent (%ebp holds the
 * address the image runs at), so the same bytes run from the ROM and,
 * after shadowing, from RAM at BIOS_LOW_BASE.
 *
 * Every step prints a line through the UART; the VMM prints them with a
 * "[guest] " prefix and the tests compare them line by line.
 */
#include "hw.h"

#define REG(base, off) base + off

    .code32
    .text
    .globl _start
_start:
    cld
    mov     $STACK_TOP, %esp
    call    1f
1:  pop     %ebp
    sub     $(1b - _start), %ebp

    lea     s_boot(%ebp), %esi
    call    puts
    mov     %ebp, %eax
    call    puthex
    call    newline

/* 1. Before shadowing, writes to the ROM change nothing, at either address. */
    mov     $(BIOS_LOW_BASE + 0x100), %edi
    call    try_write
    mov     %eax, %ebx
    lea     0x100(%ebp), %edi
    call    try_write
    and     %eax, %ebx
    lea     s_rom_ok(%ebp), %esi
    test    %ebx, %ebx
    jnz     1f
    lea     s_rom_bad(%ebp), %esi
1:  call    puts

/* 2. Shadow the ROM: RAM read/write, copy, write-protect, continue from RAM. */
    movl    $PAM_RAM_RW, REG(CHIPSET_BASE, CHIPSET_PAM)
    mov     %ebp, %esi
    mov     $BIOS_LOW_BASE, %edi
    mov     $(BIOS_SIZE / 4), %ecx
    rep movsl
    movl    $PAM_RAM_RO, REG(CHIPSET_BASE, CHIPSET_PAM)
    lea     s_shadow(%ebp), %esi
    call    puts
    mov     $(BIOS_LOW_BASE + (in_ram - _start)), %eax
    jmp     *%eax

in_ram:
    call    1f
1:  pop     %ebp
    sub     $(1b - _start), %ebp
    lea     s_ram(%ebp), %esi
    call    puts
    mov     %ebp, %eax
    call    puthex
    call    newline
    mov     $(BIOS_LOW_BASE + 0x100), %edi
    call    try_write
    lea     s_wp_ok(%ebp), %esi
    test    %eax, %eax
    jnz     1f
    lea     s_wp_bad(%ebp), %esi
1:  call    puts

/* 3. Framebuffer under VGA dirty logging: write three rows, then one again. */
    lea     s_row1(%ebp), %esi
    mov     $(VGA_BASE + 1 * VGA_STRIDE), %edi
    call    strcpy
    lea     s_row3(%ebp), %esi
    mov     $(VGA_BASE + 3 * VGA_STRIDE), %edi
    call    strcpy
    lea     s_row4(%ebp), %esi
    mov     $(VGA_BASE + 4 * VGA_STRIDE), %edi
    call    strcpy
    movl    $1, REG(CHIPSET_BASE, CHIPSET_DISPLAY)
    lea     s_vga1(%ebp), %esi
    call    puts
    lea     s_row3b(%ebp), %esi
    mov     $(VGA_BASE + 3 * VGA_STRIDE), %edi
    call    strcpy
    movl    $1, REG(CHIPSET_BASE, CHIPSET_DISPLAY)
    lea     s_vga2(%ebp), %esi
    call    puts

/* 4. The device behind BAR 0: use it, move it, use it at the new address. */
    mov     REG(DEV_BAR_INITIAL, DEV_ID), %eax
    lea     s_dev_id(%ebp), %esi
    call    puts
    call    puthex
    lea     s_dev_at(%ebp), %esi
    call    puts
    mov     $DEV_BAR_INITIAL, %eax
    call    puthex
    call    newline
    movl    $0xc0de, REG(DEV_BAR_INITIAL, DEV_SCRATCH)
    movl    $DEV_BAR_MOVED, REG(CHIPSET_BASE, CHIPSET_BAR0)
    lea     s_moved(%ebp), %esi
    call    puts
    mov     REG(CHIPSET_BASE, CHIPSET_BAR0), %eax
    call    puthex
    call    newline
    mov     REG(DEV_BAR_MOVED, DEV_ID), %eax
    lea     s_dev_id(%ebp), %esi
    call    puts
    call    puthex
    lea     s_scratch(%ebp), %esi
    call    puts
    mov     REG(DEV_BAR_MOVED, DEV_SCRATCH), %eax
    call    puthex
    call    newline
    mov     REG(DEV_BAR_INITIAL, DEV_ID), %eax
    lea     s_old(%ebp), %esi
    call    puts
    call    puthex
    call    newline

/* 5. The doorbell: matching writes go to an ioeventfd, another value exits. */
    movl    $DOORBELL_KICK, REG(DEV_BAR_MOVED, DEV_DOORBELL)
    movl    $DOORBELL_KICK, REG(DEV_BAR_MOVED, DEV_DOORBELL)
    movl    $DOORBELL_KICK, REG(DEV_BAR_MOVED, DEV_DOORBELL)
    movl    $7, REG(DEV_BAR_MOVED, DEV_DOORBELL)
    lea     s_bell1(%ebp), %esi
    call    puts
    mov     REG(DEV_BAR_MOVED, DEV_RINGS), %eax
    call    putdec
    lea     s_bell2(%ebp), %esi
    call    puts
    mov     REG(DEV_BAR_MOVED, DEV_OTHER_WRITES), %eax
    call    putdec
    lea     s_bell3(%ebp), %esi
    call    puts

/* 6. A burst of 64 writes to the coalesced FIFO, then read what the device saw. */
    mov     $1, %ecx
1:  mov     %ecx, REG(DEV_BAR_MOVED, DEV_FIFO)
    inc     %ecx
    cmp     $64, %ecx
    jbe     1b
    lea     s_burst1(%ebp), %esi
    call    puts
    mov     REG(DEV_BAR_MOVED, DEV_FIFO_COUNT), %eax
    call    putdec
    lea     s_burst2(%ebp), %esi
    call    puts
    mov     REG(DEV_BAR_MOVED, DEV_FIFO_SUM), %eax
    call    putdec
    call    newline

    lea     s_done(%ebp), %esi
    call    puts
2:  hlt
    jmp     2b

/* ---- helpers -------------------------------------------------------------- */

/* %edi: address. Writes the complement of the dword there; %eax = 1 if it stayed unchanged. */
try_write:
    mov     (%edi), %edx
    mov     %edx, %ecx
    not     %ecx
    mov     %ecx, (%edi)
    mov     (%edi), %ecx
    xor     %eax, %eax
    cmp     %ecx, %edx
    sete    %al
    ret

/* Copy the string at %esi, terminator included, to %edi. */
strcpy:
    lodsb
    stosb
    test    %al, %al
    jnz     strcpy
    ret

/* Print the string at %esi. */
puts:
    push    %eax
    push    %edx
    mov     $UART_PORT, %dx
1:  lodsb
    test    %al, %al
    jz      2f
    out     %al, %dx
    jmp     1b
2:  pop     %edx
    pop     %eax
    ret

newline:
    push    %eax
    push    %edx
    mov     $UART_PORT, %dx
    mov     $10, %al
    out     %al, %dx
    pop     %edx
    pop     %eax
    ret

/* Print %eax as 0x%08x. */
puthex:
    push    %eax
    push    %ebx
    push    %ecx
    push    %edx
    mov     %eax, %ebx
    mov     $UART_PORT, %dx
    mov     $'0', %al
    out     %al, %dx
    mov     $'x', %al
    out     %al, %dx
    mov     $8, %ecx
1:  rol     $4, %ebx
    mov     %bl, %al
    and     $0xf, %al
    cmp     $10, %al
    jb      2f
    add     $('a' - '0' - 10), %al
2:  add     $'0', %al
    out     %al, %dx
    loop    1b
    pop     %edx
    pop     %ecx
    pop     %ebx
    pop     %eax
    ret

/* Print %eax in decimal. */
putdec:
    push    %eax
    push    %ebx
    push    %ecx
    push    %edx
    mov     $10, %ebx
    xor     %ecx, %ecx
1:  xor     %edx, %edx
    div     %ebx
    push    %edx
    inc     %ecx
    test    %eax, %eax
    jnz     1b
    mov     $UART_PORT, %dx
2:  pop     %eax
    add     $'0', %al
    out     %al, %dx
    loop    2b
    pop     %edx
    pop     %ecx
    pop     %ebx
    pop     %eax
    ret

/* ---- strings ---------------------------------------------------------------- */

s_boot:    .asciz "boot: running from ROM at "
s_rom_ok:  .asciz "rom: writes to 0x000f0100 and 0xffff0100 dropped, bytes unchanged\n"
s_rom_bad: .asciz "rom: a write CHANGED the ROM\n"
s_shadow:  .asciz "shadow: ROM copied to RAM at 0x000f0000 and write-protected\n"
s_ram:     .asciz "shadow: running from RAM at "
s_wp_ok:   .asciz "shadow: write to 0x000f0100 dropped, the copy is write-protected\n"
s_wp_bad:  .asciz "shadow: a write CHANGED the write-protected copy\n"
s_row1:    .asciz "Hello from row 1"
s_row3:    .asciz "Row 3: dirty logging at work"
s_row4:    .asciz "Row 4: only dirty rows are redrawn"
s_row3b:   .asciz "Row 3 again: nothing else changed"
s_vga1:    .asciz "vga: wrote rows 1, 3 and 4, display refreshed\n"
s_vga2:    .asciz "vga: rewrote row 3, display refreshed\n"
s_dev_id:  .asciz "dev: id "
s_dev_at:  .asciz " at "
s_moved:   .asciz "dev: BAR 0 moved to "
s_scratch: .asciz " at the new address, scratch "
s_old:     .asciz "dev: the old address reads "
s_bell1:   .asciz "doorbell: "
s_bell2:   .asciz " rings through the ioeventfd, "
s_bell3:   .asciz " write reached the device\n"
s_burst1:  .asciz "burst: 64 coalesced writes, the device saw "
s_burst2:  .asciz ", sum "
s_done:    .asciz "done\n"
