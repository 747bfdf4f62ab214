package android.widget;
public class EditText extends TextView { public android.text.Editable getText(){return null;} }
