package dev.edgetime.demo;
public final class R { public static final class layout { public static final int activity_main=1; } public static final class id { public static final int output=1, bundle_picker=2, input_text=3, run_button=4, check_button=5; } public static final class string { public static final int no_bundles=1, self_check_ok=2, self_check_failed=3, latency_line=4; } }
