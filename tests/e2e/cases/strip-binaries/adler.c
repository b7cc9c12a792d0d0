/* adler: the Adler-32 checksum (RFC 1950) of each argument, one per line, in hex. */
#include <stdio.h>
#include <string.h>

static unsigned long adler32(const unsigned char *p, size_t n) {
    unsigned long a = 1, b = 0;
    while (n--) {
        a = (a + *p++) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: adler TEXT...\n", stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        printf("%08lx  %s\n", adler32((const unsigned char *)argv[i], strlen(argv[i])), argv[i]);
    return 0;
}
