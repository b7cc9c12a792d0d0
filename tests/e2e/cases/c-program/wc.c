#include <ctype.h>
#include <stdio.h>
#include <zlib.h>

/* counts lines, words and bytes on stdin, like wc, and prints the input's CRC-32 (zlib) */
int main(void) {
    long lines = 0, words = 0, bytes = 0;
    int c, in_word = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    while ((c = getchar()) != EOF) {
        unsigned char byte = (unsigned char)c;
        crc = crc32(crc, &byte, 1);
        bytes++;
        if (c == '\n')
            lines++;
        if (isspace(c))
            in_word = 0;
        else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    printf("%ld %ld %ld %08lx\n", lines, words, bytes, crc);
    return 0;
}
