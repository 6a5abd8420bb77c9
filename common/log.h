/* SPDX-License-Identifier: MIT */
/*
 * Logging for the control thread and start-up code.
 *
 * Workers never call these: a worker counts what happened and the control
 * thread reports it (docs/architecture.md). One line per call, written with a
 * single write(2) so lines from different threads never interleave.
 *
 * Line format: "2026-11-25T04:08:00.123Z info  [subsys] message"
 */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_ERR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/* Parse "error", "warning", "info", "debug". Returns false if unknown. */
bool log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_set_level(enum log_level level);
/* Where lines go; default is stderr (fd 2). */
void log_set_fd(int fd);
bool log_enabled(enum log_level level);

void log_write(enum log_level level, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(subsys, ...) log_write(LOG_ERR, subsys, __VA_ARGS__)
#define log_warn(subsys, ...) log_write(LOG_WARN, subsys, __VA_ARGS__)
#define log_info(subsys, ...) log_write(LOG_INFO, subsys, __VA_ARGS__)
#define log_debug(subsys, ...)                                                 \
	do {                                                                   \
		if (log_enabled(LOG_DEBUG))                                    \
			log_write(LOG_DEBUG, subsys, __VA_ARGS__);             \
	} while (0)

#endif
