// Drives Baidu's Java SDK (aip-java-sdk) through the calls tests/test_sdks.py sends as
// JSON on stdin; prints the SDK's answers as a JSON list.
// Pointing it at tongtu: the SDK's URLs are compile-time constants (AipClientConst,
// ImageSearchConsts), so scripts/sdks.sh builds a copy whose host comes from -Daip.host.
import com.baidu.aip.imagesearch.AipImageSearch;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Iterator;
import org.json.JSONArray;
import org.json.JSONObject;

public class Driver {
    public static void main(String[] args) throws Exception {
        JSONObject in = new JSONObject(new String(System.in.readAllBytes(), StandardCharsets.UTF_8));
        AipImageSearch client = new AipImageSearch(
                in.getString("app_id"), in.getString("api_key"), in.getString("secret_key"));
        JSONArray calls = in.getJSONArray("calls");
        JSONArray out = new JSONArray();
        for (int i = 0; i < calls.length(); i++) {
            JSONArray call = calls.getJSONArray(i);
            String op = call.getString(0);
            String arg = call.getString(1);
            JSONObject o = call.getJSONObject(2);
            HashMap<String, String> options = new HashMap<String, String>();
            for (Iterator<?> keys = o.keys(); keys.hasNext(); ) {
                String k = (String) keys.next();
                options.put(k, o.getString(k));
            }
            out.put(call(client, op, arg, options));
        }
        System.out.print(out.toString());
    }

    static JSONObject call(AipImageSearch c, String op, String arg, HashMap<String, String> o)
            throws Exception {
        switch (op) {
            case "add": return c.sameHqAdd(Files.readAllBytes(Paths.get(arg)), o);
            case "add_url": return c.sameHqAddUrl(arg, o);
            case "search": return c.sameHqSearch(Files.readAllBytes(Paths.get(arg)), o);
            case "search_url": return c.sameHqSearchUrl(arg, o);
            case "update": return c.sameHqUpdate(Files.readAllBytes(Paths.get(arg)), o);
            case "update_sign": return c.sameHqUpdateContSign(arg, o);
            case "delete_image": return c.sameHqDeleteByImage(Files.readAllBytes(Paths.get(arg)), o);
            case "delete_sign": return c.sameHqDeleteBySign(arg, o);
            default: throw new IllegalArgumentException(op);
        }
    }
}
