# The cost of one decision per policy (bench/policy_bench.c): features,
# decide with warm caches, learn, and a cache refresh per bits.
#
#   make bench-policy

$(BUILD)/policy_bench: bench/policy_bench.c $(BUILD)/liboffer.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/liboffer.a $(LDLIBS)

bench-policy: $(BUILD)/policy_bench
	$(BUILD)/policy_bench

.PHONY: bench-policy
