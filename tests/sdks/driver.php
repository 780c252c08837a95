<?php
// Drives Baidu's PHP SDK (aip-php-sdk) through the calls tests/test_sdks.py sends as JSON
// on stdin; prints the SDK's answers as a JSON list. AIP_SDK_DIR: a writable copy of the
// SDK (it caches its token in a file beside lib/AipBase.php).
// Pointing it at tongtu: a subclass sets the token URL, a bound closure the private
// same_hq URLs.
require_once getenv('AIP_SDK_DIR') . '/AipImageSearch.php';

$input = json_decode(file_get_contents('php://stdin'), true);

class TongtuImageSearch extends AipImageSearch {
    public function __construct($appId, $apiKey, $secretKey, $host) {
        parent::__construct($appId, $apiKey, $secretKey);
        $this->accessTokenUrl = $host . '/oauth/2.0/token';
        $set = function ($host) {
            foreach (array('Add', 'Search', 'Update', 'Delete') as $op) {
                $this->{'sameHq' . $op . 'Url'} = $host . '/rest/2.0/realtime_search/same_hq/' . strtolower($op);
            }
        };
        Closure::bind($set, $this, 'AipImageSearch')($host);
    }
}

$client = new TongtuImageSearch($input['app_id'], $input['api_key'], $input['secret_key'], $input['host']);
$out = array();
foreach ($input['calls'] as $call) {
    list($op, $arg, $options) = $call;
    $options = (array) $options;
    switch ($op) {
        case 'add': $r = $client->sameHqAdd(file_get_contents($arg), $options); break;
        case 'add_url': $r = $client->sameHqAddUrl($arg, $options); break;
        case 'search': $r = $client->sameHqSearch(file_get_contents($arg), $options); break;
        case 'search_url': $r = $client->sameHqSearchUrl($arg, $options); break;
        case 'update': $r = $client->sameHqUpdate(file_get_contents($arg), $options); break;
        case 'update_sign': $r = $client->sameHqUpdateContSign($arg, $options); break;
        case 'delete_image': $r = $client->sameHqDeleteByImage(file_get_contents($arg), $options); break;
        case 'delete_sign': $r = $client->sameHqDeleteBySign($arg, $options); break;
    }
    $out[] = $r;
}
echo json_encode($out);
