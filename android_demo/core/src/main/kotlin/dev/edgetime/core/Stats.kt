package dev.edgetime.core

/**
 * Latency statistics as `edge_time.profiler.stats.latency_summary` computes them, so the app shows
 * what the profiler reports: percentiles by linear interpolation (numpy's default, including its
 * two-sided lerp), mean, and the sample standard deviation (ddof = 1; 0 for a single run), summed
 * pairwise like numpy. Keys of [LatencySummary.toMap] are the profiler's.
 */
class LatencySummary(
    val count: Int,
    val mean: Double,
    val std: Double,
    val min: Double,
    val max: Double,
    val p50: Double,
    val p90: Double,
    val p99: Double
) {
    fun toMap(): Map<String, Any?> = linkedMapOf(
        "count" to count, "mean_ms" to mean, "std_ms" to std, "min_ms" to min, "max_ms" to max,
        "p50_ms" to p50, "p90_ms" to p90, "p99_ms" to p99
    )
}

object Stats {
    /** `np.percentile(values, q)` with the default linear method. */
    fun percentile(values: DoubleArray, q: Double): Double {
        if (values.isEmpty()) throw IllegalArgumentException("percentile of no values")
        if (q < 0.0 || q > 100.0) throw IllegalArgumentException("percentile q must be in [0, 100], got $q")
        val sorted = values.copyOf()
        sorted.sort()
        val virtual = (sorted.size - 1) * (q / 100.0)
        val previous = Math.floor(virtual)
        val lo = minOf(maxOf(previous.toInt(), 0), sorted.size - 1)
        val hi = minOf(lo + 1, sorted.size - 1)
        val gamma = virtual - previous
        val a = sorted[lo]
        val b = sorted[hi]
        val diff = b - a
        return if (gamma >= 0.5) b - diff * (1 - gamma) else a + diff * gamma
    }

    /** numpy's pairwise summation (blocks of 128, eight accumulators). */
    fun pairwiseSum(values: DoubleArray, from: Int = 0, n: Int = values.size): Double {
        if (n < 8) {
            var res = -0.0
            for (i in 0 until n) res += values[from + i]
            return res
        }
        if (n <= 128) {
            val r = DoubleArray(8) { values[from + it] }
            var i = 8
            while (i < n - (n % 8)) {
                for (k in 0 until 8) r[k] += values[from + i + k]
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while (i < n) { res += values[from + i]; i++ }
            return res
        }
        var n2 = n / 2
        n2 -= n2 % 8
        return pairwiseSum(values, from, n2) + pairwiseSum(values, from + n2, n - n2)
    }

    fun mean(values: DoubleArray): Double = pairwiseSum(values) / values.size

    /** Sample standard deviation (numpy `std(ddof=1)`), 0 for fewer than two values. */
    fun std(values: DoubleArray): Double {
        if (values.size < 2) return 0.0
        val m = mean(values)
        val squares = DoubleArray(values.size) { (values[it] - m) * (values[it] - m) }
        return Math.sqrt(pairwiseSum(squares) / (values.size - 1))
    }

    fun summarize(values: DoubleArray): LatencySummary {
        if (values.isEmpty()) throw IllegalArgumentException("no latencies to summarise")
        return LatencySummary(
            values.size, mean(values), std(values), values.min()!!, values.max()!!,
            percentile(values, 50.0), percentile(values, 90.0), percentile(values, 99.0)
        )
    }
}
