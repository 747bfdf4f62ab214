package android.graphics;
public class Typeface { public static final int ITALIC=2; }
