/* pause: sleep as PID 1 until SIGINT/SIGTERM (then exit 0), reaping zombies. The entrypoint of the
 * pinhole.test/pause:1 image (hack/build-images.sh) and a container init that, unlike busybox
 * sleep, reacts to SIGTERM when it runs as PID 1 of a PID namespace. "pause -v" prints a version. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
    (void)signo;
    _exit(0);
}

static void sigreap(int signo) {
    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "-v")) {
        puts("pinhole-test-pause 1");
        return 0;
    }
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_handler = sigdown;
    if (sigaction(SIGINT, &a, NULL) < 0 || sigaction(SIGTERM, &a, NULL) < 0)
        return 1;
    a.sa_handler = sigreap;
    a.sa_flags = SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &a, NULL) < 0)
        return 1;
    for (;;)
        pause();
}
