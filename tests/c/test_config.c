/*
 * test_config.c - the settings parser (lib/config.c) on chosen values:
 * one rule for every number, messages that name the actual problem, and
 * the fingerprint that scio-run passes to the shim.
 */
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "config.h"

static const char *env_name, *env_value, *env_name2, *env_value2;

static const char *get(const char *name)
{
	if (env_name && strcmp(name, env_name) == 0)
		return env_value;
	if (env_name2 && strcmp(name, env_name2) == 0)
		return env_value2;
	return NULL;
}

static struct scio_config c;
static char warn[1024];

/* Parses NAME=VALUE alone; the number of bad values. */
static int parse1(const char *name, const char *value)
{
	env_name = name;
	env_value = value;
	env_name2 = NULL;
	return scio_config_parse(&c, get, warn, sizeof(warn));
}

static void digits_only_for_every_number(void)
{
	static const char *const names[] = { "SCIO_CONNECT_DELAY_MS",
					     "SCIO_RESOLUTION_DELAY_MS" };
	static const char *const bad[] = { " 250", "+250", "250 ", "\t250", "-3",
					   "0x10", "25O", "1e2", "250ms", "2 50" };
	for (size_t n = 0; n < 2; n++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			CHECK_EQ(parse1(names[n], bad[i]), 1);
			CHECK(strstr(warn, "is not a number of milliseconds (digits only)"));
			CHECK(strstr(warn, names[n]));
		}
		CHECK_EQ(parse1(names[n], "250"), 0);
		CHECK_EQ(warn[0], '\0');
		CHECK_EQ(parse1(names[n], "0250"), 0);
	}
	CHECK_EQ(parse1("SCIO_CONNECT_DELAY_MS", "250"), 0);
	CHECK_EQ(c.connect_delay_ms, 250);
	CHECK_EQ(parse1("SCIO_CONNECT_DELAY_MS", " 250"), 1);
	CHECK_EQ(c.connect_delay_ms, SCIO_CONNECT_DELAY_DEFAULT_MS);
	CHECK_EQ(parse1("SCIO_RESOLUTION_DELAY_MS", "0"), 0);
	CHECK_EQ(c.resolution_delay_ms, 0);
}

static void out_of_range_is_clamped_and_said(void)
{
	CHECK_EQ(parse1("SCIO_CONNECT_DELAY_MS", "9"), 1);
	CHECK_EQ(c.connect_delay_ms, SCIO_CONNECT_DELAY_MIN_MS);
	CHECK(strstr(warn, "out of range"));
	CHECK_EQ(parse1("SCIO_CONNECT_DELAY_MS", "2001"), 1);
	CHECK_EQ(c.connect_delay_ms, SCIO_CONNECT_DELAY_MAX_MS);
	/* past any integer type: still a number, out of range */
	CHECK_EQ(parse1("SCIO_CONNECT_DELAY_MS", "99999999999999999999999999"), 1);
	CHECK_EQ(c.connect_delay_ms, SCIO_CONNECT_DELAY_MAX_MS);
	CHECK(strstr(warn, "out of range"));
	CHECK_EQ(parse1("SCIO_RESOLUTION_DELAY_MS", "2001"), 1);
	CHECK_EQ(c.resolution_delay_ms, 2000);
}

static void paths_say_what_is_wrong(void)
{
	char longpath[SCIO_PATH_MAX + 10];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	const char *names[] = { "SCIO_HISTORY_FILE", "SCIO_LOG_FILE" };
	for (size_t n = 0; n < 2; n++) {
		CHECK_EQ(parse1(names[n], longpath), 1);
		CHECK(strstr(warn, "is too long"));
		CHECK(!strstr(warn, "absolute"));
		CHECK_EQ(parse1(names[n], "scio.log"), 1);
		CHECK(strstr(warn, "is not an absolute path"));
		CHECK(!strstr(warn, "too long"));
		CHECK_EQ(parse1(names[n], "/tmp/x"), 0);
	}
	CHECK_EQ(parse1("SCIO_LOG_FILE", "scio.log"), 1);
	CHECK_EQ(c.log_file[0], '\0');
	CHECK(strstr(warn, "logging to stderr"));
	CHECK_EQ(parse1("SCIO_LOG_FILE", "/tmp/x"), 0);
	CHECK(strcmp(c.log_file, "/tmp/x") == 0);
	longpath[SCIO_PATH_MAX - 1] = '\0';  /* the longest that fits */
	CHECK_EQ(parse1("SCIO_HISTORY_FILE", longpath), 0);
	CHECK_EQ(strlen(c.history_file), SCIO_PATH_MAX - 1);
}

static void values_are_shown_safely(void)
{
	CHECK_EQ(parse1("SCIO_LOG", "\033]0;owned\007"), 1);
	CHECK(!strchr(warn, '\033') && !strchr(warn, '\007'));
	CHECK(strstr(warn, "?]0;owned?"));
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(parse1("SCIO_PREFER", big), 1);
	CHECK(strstr(warn, "...") && strlen(warn) < 200);
}

static void words_are_exact(void)
{
	CHECK_EQ(parse1("SCIO_LOG", "info"), 0);
	CHECK_EQ(c.log_level, SCIO_LOG_INFO);
	CHECK_EQ(parse1("SCIO_LOG", " info"), 1);
	CHECK_EQ(parse1("SCIO_DISABLE", "1 "), 1);
	CHECK_EQ(parse1("SCIO_HISTORY", "off"), 0);
	CHECK_EQ(parse1("SCIO_LOG", ""), 0);  /* empty: unset */
}

static void fingerprint_follows_the_values(void)
{
	char a[17], b[17], d[17];
	parse1("SCIO_LOG", "loud");
	scio_config_fingerprint(get, a);
	CHECK_EQ(strlen(a), 16);
	scio_config_fingerprint(get, b);
	CHECK(strcmp(a, b) == 0);
	parse1("SCIO_LOG", "louder");
	scio_config_fingerprint(get, b);
	CHECK(strcmp(a, b) != 0);
	parse1("SCIO_PREFER", "loud");  /* same value, other name */
	scio_config_fingerprint(get, d);
	CHECK(strcmp(a, d) != 0);

	/* SCIO_SETTINGS_CHECKED holding the values' fingerprint: checked */
	env_name = "SCIO_LOG";
	env_value = "loud";
	env_name2 = "SCIO_SETTINGS_CHECKED";
	env_value2 = a;
	CHECK(scio_config_already_checked(get));
	env_value = "louder";   /* changed after the check: warn again */
	CHECK(!scio_config_already_checked(get));
	env_value2 = "anything";
	CHECK(!scio_config_already_checked(get));
	env_name2 = NULL;
	CHECK(!scio_config_already_checked(get));
}

int main(void)
{
	RUN(digits_only_for_every_number);
	RUN(out_of_range_is_clamped_and_said);
	RUN(paths_say_what_is_wrong);
	RUN(values_are_shown_safely);
	RUN(words_are_exact);
	RUN(fingerprint_follows_the_values);
	return check_exit();
}
