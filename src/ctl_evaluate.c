/*
 * ctl_evaluate.c — offerctl evaluate (in progress).
 */
#include <stdio.h>

#include "ctl.h"

int ctl_evaluate(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "offerctl evaluate: not yet\n");
	return 2;
}
