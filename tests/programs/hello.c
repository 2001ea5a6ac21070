/* Test helper (from the lab image): prints "hello from lab image" and its arguments; exit code = $HELLO_EXIT (default 0).
 * Build: gcc -static -Os -s -o hello hello.c */
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  printf("hello from lab image");
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("\n");
  const char *e = getenv("HELLO_EXIT");
  return e ? atoi(e) : 0;
}
