/* sluice — Kafka connector: a librdkafka queue wakes the libuv loop (the
 * queue's event fd is a pipe the loop polls). */
#include "kafka/kafka_int.h"
#include "sluice/error.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static void noop_cb(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
}

int sl__kqwake_init(sl__kqwake_t *w, uv_loop_t *loop, rd_kafka_queue_t *q, uv_poll_cb cb,
                    void *data)
{
    if (pipe(w->fds))
        return SL_EIO;
    for (int i = 0; i < 2; i++) {
        fcntl(w->fds[i], F_SETFL, fcntl(w->fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(w->fds[i], F_SETFD, FD_CLOEXEC);
    }
    if (uv_poll_init(loop, &w->poll, w->fds[0])) {
        close(w->fds[0]);
        close(w->fds[1]);
        return SL_EIO;
    }
    w->poll.data = data;
    uv_poll_start(&w->poll, UV_READABLE, cb ? cb : noop_cb);
    rd_kafka_queue_io_event_enable(q, w->fds[1], "1", 1);
    w->active = 1;
    return 0;
}

void sl__kqwake_drain(sl__kqwake_t *w)
{
    char buf[256];
    while (read(w->fds[0], buf, sizeof buf) > 0)
        ;
}

static void closed_cb(uv_handle_t *h)
{
    (void)h;
}

void sl__kqwake_close(sl__kqwake_t *w, rd_kafka_queue_t *q)
{
    if (!w->active)
        return;
    w->active = 0;
    if (q)
        rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, closed_cb);
    close(w->fds[0]);
    close(w->fds[1]);
}
