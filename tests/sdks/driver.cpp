// Drives Baidu's C++ SDK (aip-cpp-sdk, header-only) through the calls tests/test_sdks.py
// sends as JSON on stdin; prints the SDK's answers as a JSON list.
// Pointing it at tongtu: the same_hq URLs are public members, set here; the token URL is
// a constant in base/base.h, which scripts/sdks.sh builds from a copy that reads AIP_HOST.
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <string>

#include "image_search.h"

int main() {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    Json::Value in;
    Json::Reader reader;
    if (!reader.parse(text, in)) return 2;
    const std::string host = in["host"].asString();
    aip::Imagesearch client(in["app_id"].asString(), in["api_key"].asString(), in["secret_key"].asString());
    client._same_hq_add = host + "/rest/2.0/realtime_search/same_hq/add";
    client._same_hq_search = host + "/rest/2.0/realtime_search/same_hq/search";
    client._same_hq_update = host + "/rest/2.0/realtime_search/same_hq/update";
    client._same_hq_delete = host + "/rest/2.0/realtime_search/same_hq/delete";
    Json::Value out(Json::arrayValue);
    for (const Json::Value & call : in["calls"]) {
        const std::string op = call[0].asString();
        const std::string arg = call[1].asString();
        std::map<std::string, std::string> options;
        for (const std::string & key : call[2].getMemberNames()) options[key] = call[2][key].asString();
        std::string image;
        if (op == "add" || op == "search" || op == "update" || op == "delete_image") aip::get_file_content(arg.c_str(), &image);
        Json::Value r;
        if (op == "add") r = client.same_hq_add(image, options);
        else if (op == "add_url") r = client.same_hq_add_url(arg, options);
        else if (op == "search") r = client.same_hq_search(image, options);
        else if (op == "search_url") r = client.same_hq_search_url(arg, options);
        else if (op == "update") r = client.same_hq_update(image, options);
        else if (op == "update_sign") r = client.same_hq_update_cont_sign(arg, options);
        else if (op == "delete_image") r = client.same_hq_delete_by_image(image, options);
        else if (op == "delete_sign") r = client.same_hq_delete_by_sign(arg, options);
        out.append(r);
    }
    Json::FastWriter writer;
    std::cout << writer.write(out);
    return 0;
}
