package android.graphics;
public class Color { public static int rgb(int r,int g,int b){return 0;} }
