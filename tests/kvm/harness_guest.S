/*
 * The KVM tests' guest: a command interpreter in 32-bit flat protected
 * mode. %esi points at this vCPU's mailbox (harness.h, HarnessCmd). The
 * guest halts; the test writes a command into the mailbox and runs the
 * vCPU again; the guest performs the command with real instructions and
 * halts again. Every access a test checks is a real guest access on KVM.
 */
#define CMD_OP     0
#define CMD_SIZE   4
#define CMD_ADDR   8
#define CMD_VALUE  12
#define CMD_COUNT  16
#define CMD_STRIDE 20
#define CMD_RESULT 24
#define CMD_STEP   28

    .code32
    .text
    .globl _start
_start:
    cld
next:
    hlt
    mov     CMD_OP(%esi), %eax
    cmp     $1, %eax
    je      do_store
    cmp     $2, %eax
    je      do_load
    cmp     $3, %eax
    je      do_out
    cmp     $4, %eax
    je      do_in
    cmp     $5, %eax
    je      do_outs
    cmp     $6, %eax
    je      do_call
    jmp     next

/* count stores (size bytes) at addr, addr + stride, ... of value, value + step, ... */
do_store:
    mov     CMD_ADDR(%esi), %edi
    mov     CMD_VALUE(%esi), %eax
    mov     CMD_COUNT(%esi), %ecx
    mov     CMD_SIZE(%esi), %edx
1:  test    %ecx, %ecx
    jz      next
    cmp     $1, %edx
    jne     2f
    movb    %al, (%edi)
    jmp     4f
2:  cmp     $2, %edx
    jne     3f
    movw    %ax, (%edi)
    jmp     4f
3:  movl    %eax, (%edi)
4:  add     CMD_STRIDE(%esi), %edi
    add     CMD_STEP(%esi), %eax
    dec     %ecx
    jmp     1b

/* result = load of size bytes at addr */
do_load:
    mov     CMD_ADDR(%esi), %edi
    mov     CMD_SIZE(%esi), %edx
    cmp     $1, %edx
    jne     2f
    movzbl  (%edi), %eax
    jmp     4f
2:  cmp     $2, %edx
    jne     3f
    movzwl  (%edi), %eax
    jmp     4f
3:  movl    (%edi), %eax
4:  mov     %eax, CMD_RESULT(%esi)
    jmp     next

/* count outs of value (size bytes) to port addr */
do_out:
    mov     CMD_SIZE(%esi), %ebx
    mov     CMD_ADDR(%esi), %edx
    mov     CMD_VALUE(%esi), %eax
    mov     CMD_COUNT(%esi), %ecx
1:  test    %ecx, %ecx
    jz      next
    cmp     $1, %ebx
    jne     2f
    outb    %al, %dx
    jmp     4f
2:  cmp     $2, %ebx
    jne     3f
    outw    %ax, %dx
    jmp     4f
3:  outl    %eax, %dx
4:  dec     %ecx
    jmp     1b

/* result = in of size bytes from port addr */
do_in:
    mov     CMD_SIZE(%esi), %ebx
    mov     CMD_ADDR(%esi), %edx
    xor     %eax, %eax
    cmp     $1, %ebx
    jne     2f
    inb     %dx, %al
    jmp     4f
2:  cmp     $2, %ebx
    jne     3f
    inw     %dx, %ax
    jmp     4f
3:  inl     %dx, %eax
4:  mov     %eax, CMD_RESULT(%esi)
    jmp     next

/* rep outsb: count bytes from memory at value to port addr */
do_outs:
    push    %esi
    mov     CMD_ADDR(%esi), %edx
    mov     CMD_COUNT(%esi), %ecx
    mov     CMD_VALUE(%esi), %esi
    rep outsb
    pop     %esi
    jmp     next

/* call the code at addr (it returns with ret; %esi is preserved) */
do_call:
    push    %esi
    call    *CMD_ADDR(%esi)
    pop     %esi
    jmp     next
