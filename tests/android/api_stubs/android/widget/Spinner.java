package android.widget;
public class Spinner extends android.view.View { public void setAdapter(SpinnerAdapter a){} public SpinnerAdapter getAdapter(){return null;} public int getSelectedItemPosition(){return 0;} }
