package android.content;
public class Intent { public android.os.Bundle getExtras(){return null;} }
