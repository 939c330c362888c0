// Lua 5.4's pattern matching (string.find, match, gmatch and gsub), with the same syntax,
// results and error messages, rewritten for Taskdeck so that a match can be interrupted.
// The stock matcher (lstrlib.c) is C code that never returns to the VM while it
// backtracks: `string.find(("a"):rep(40), ("a*"):rep(40) .. "b")` runs for hours, with no
// hook to cancel it or time it out, and holds its worker thread all along. This one counts
// its steps and, every StepsPerCheck of them, runs the hook the engine has set on the
// state (luaCheckInterrupt), which raises a cancel, a timeout or a stop like it would
// between two instructions. The algorithm and the messages follow Lua 5.4's lstrlib.c
// (Copyright (C) 1994-2022 Lua.org, PUC-Rio; MIT licence: permission is granted, free of
// charge, to deal in the software without restriction, provided the copyright notice and
// this permission notice are included in copies or substantial portions of it; the
// software is provided "as is", without warranty of any kind).
#include "luapattern.h"

#include <lua.hpp>

#include <cctype>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace {

constexpr int MaxCaptures = 32;    // LUA_MAXCAPTURES
constexpr int MaxMatchDepth = 200; // MAXCCALLS: C recursion of one match
constexpr int StepsPerCheck = 1000;
constexpr ptrdiff_t CapUnfinished = -1;
constexpr ptrdiff_t CapPosition = -2;
constexpr char Esc = '%';
constexpr const char *Specials = "^$*+?.([%-";

int uchar(char c)
{
    return static_cast<unsigned char>(c);
}

struct MatchState
{
    const char *srcInit; // the subject
    const char *srcEnd;
    const char *pEnd; // the pattern's end
    lua_State *L;
    int depth; // recursion left
    int steps; // until the next look at the hook
    int level; // captures, finished or not
    struct
    {
        const char *init;
        ptrdiff_t len;
    } capture[MaxCaptures];
};

void step(MatchState *ms)
{
    if (--ms->steps <= 0) {
        ms->steps = StepsPerCheck;
        luaCheckInterrupt(ms->L);
    }
}

const char *doMatch(MatchState *ms, const char *s, const char *p);

int checkCapture(MatchState *ms, int l)
{
    l -= '1';
    if (l < 0 || l >= ms->level || ms->capture[l].len == CapUnfinished)
        return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    return l;
}

int captureToClose(MatchState *ms)
{
    int level = ms->level;
    for (level--; level >= 0; level--)
        if (ms->capture[level].len == CapUnfinished)
            return level;
    return luaL_error(ms->L, "invalid pattern capture");
}

const char *classEnd(MatchState *ms, const char *p)
{
    switch (*p++) {
    case Esc:
        if (p == ms->pEnd)
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    case '[':
        if (*p == '^')
            p++;
        do { // look for a ']'
            if (p == ms->pEnd)
                luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*(p++) == Esc && p < ms->pEnd)
                p++; // skip escapes (e.g. '%]')
        } while (*p != ']');
        return p + 1;
    default:
        return p;
    }
}

bool singleClass(int c, int cl)
{
    bool res;
    switch (std::tolower(cl)) {
    case 'a':
        res = std::isalpha(c);
        break;
    case 'c':
        res = std::iscntrl(c);
        break;
    case 'd':
        res = std::isdigit(c);
        break;
    case 'g':
        res = std::isgraph(c);
        break;
    case 'l':
        res = std::islower(c);
        break;
    case 'p':
        res = std::ispunct(c);
        break;
    case 's':
        res = std::isspace(c);
        break;
    case 'u':
        res = std::isupper(c);
        break;
    case 'w':
        res = std::isalnum(c);
        break;
    case 'x':
        res = std::isxdigit(c);
        break;
    default:
        return cl == c;
    }
    return std::isupper(cl) ? !res : res;
}

// `p` is the '[' of a set and `ec` its ']'.
bool matchBracketClass(int c, const char *p, const char *ec)
{
    bool sig = true;
    if (*(p + 1) == '^') {
        sig = false;
        p++;
    }
    while (++p < ec) {
        if (*p == Esc) {
            p++;
            if (singleClass(c, uchar(*p)))
                return sig;
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if (uchar(*(p - 2)) <= c && c <= uchar(*p))
                return sig;
        } else if (uchar(*p) == c) {
            return sig;
        }
    }
    return !sig;
}

bool singleMatch(MatchState *ms, const char *s, const char *p, const char *ep)
{
    if (s >= ms->srcEnd)
        return false;
    const int c = uchar(*s);
    switch (*p) {
    case '.':
        return true;
    case Esc:
        return singleClass(c, uchar(*(p + 1)));
    case '[':
        return matchBracketClass(c, p, ep - 1);
    default:
        return uchar(*p) == c;
    }
}

const char *matchBalance(MatchState *ms, const char *s, const char *p)
{
    if (p >= ms->pEnd - 1)
        luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= ms->srcEnd || *s != *p)
        return nullptr;
    const int b = *p;
    const int e = *(p + 1);
    int cont = 1;
    while (++s < ms->srcEnd) {
        step(ms);
        if (*s == e) {
            if (--cont == 0)
                return s + 1;
        } else if (*s == b) {
            cont++;
        }
    }
    return nullptr; // the string ends out of balance
}

const char *maxExpand(MatchState *ms, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0; // the most repetitions of the item
    while (singleMatch(ms, s + i, p, ep)) {
        step(ms);
        i++;
    }
    // the rest of the pattern after as many as possible, then one fewer each time
    while (i >= 0) {
        if (const char *res = doMatch(ms, s + i, ep + 1))
            return res;
        i--;
    }
    return nullptr;
}

const char *minExpand(MatchState *ms, const char *s, const char *p, const char *ep)
{
    for (;;) {
        if (const char *res = doMatch(ms, s, ep + 1))
            return res;
        if (!singleMatch(ms, s, p, ep))
            return nullptr;
        s++; // one more repetition
    }
}

const char *startCapture(MatchState *ms, const char *s, const char *p, ptrdiff_t what)
{
    const int level = ms->level;
    if (level >= MaxCaptures)
        luaL_error(ms->L, "too many captures");
    ms->capture[level].init = s;
    ms->capture[level].len = what;
    ms->level = level + 1;
    const char *res = doMatch(ms, s, p);
    if (!res)
        ms->level--; // undo the capture
    return res;
}

const char *endCapture(MatchState *ms, const char *s, const char *p)
{
    const int l = captureToClose(ms);
    ms->capture[l].len = s - ms->capture[l].init; // close it
    const char *res = doMatch(ms, s, p);
    if (!res)
        ms->capture[l].len = CapUnfinished; // undo
    return res;
}

const char *matchCapture(MatchState *ms, const char *s, int l)
{
    l = checkCapture(ms, l);
    const size_t len = size_t(ms->capture[l].len);
    if (size_t(ms->srcEnd - s) >= len && std::memcmp(ms->capture[l].init, s, len) == 0)
        return s + len;
    return nullptr;
}

// Where the match of pattern `p` at subject `s` ends, or nullptr.
const char *doMatch(MatchState *ms, const char *s, const char *p)
{
    if (ms->depth-- == 0)
        luaL_error(ms->L, "pattern too complex");
    const char *ep = nullptr;
init: // a loop for the tail calls
    step(ms);
    if (p != ms->pEnd) {
        switch (*p) {
        case '(':
            if (*(p + 1) == ')') // a position capture
                s = startCapture(ms, s, p + 2, CapPosition);
            else
                s = startCapture(ms, s, p + 1, CapUnfinished);
            break;
        case ')':
            s = endCapture(ms, s, p + 1);
            break;
        case '$':
            if (p + 1 != ms->pEnd) // not the last: an ordinary character
                goto dflt;
            s = s == ms->srcEnd ? s : nullptr;
            break;
        case Esc:
            switch (*(p + 1)) {
            case 'b':
                s = matchBalance(ms, s, p + 2);
                if (s) {
                    p += 4;
                    goto init;
                }
                break;
            case 'f': {
                p += 2;
                if (*p != '[')
                    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                ep = classEnd(ms, p);
                const char previous = s == ms->srcInit ? '\0' : *(s - 1);
                const char current = s < ms->srcEnd ? *s : '\0';
                if (!matchBracketClass(uchar(previous), p, ep - 1) &&
                    matchBracketClass(uchar(current), p, ep - 1)) {
                    p = ep;
                    goto init;
                }
                s = nullptr;
                break;
            }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                s = matchCapture(ms, s, uchar(*(p + 1)));
                if (s) {
                    p += 2;
                    goto init;
                }
                break;
            default:
                goto dflt;
            }
            break;
        default:
        dflt:
            ep = classEnd(ms, p);
            if (!singleMatch(ms, s, p, ep)) {
                if (*ep == '*' || *ep == '?' || *ep == '-') { // accepts none
                    p = ep + 1;
                    goto init;
                }
                s = nullptr;
            } else {
                switch (*ep) {
                case '?':
                    if (const char *res = doMatch(ms, s + 1, ep + 1)) {
                        s = res;
                    } else {
                        p = ep + 1;
                        goto init;
                    }
                    break;
                case '+':
                    s = maxExpand(ms, s + 1, p, ep);
                    break;
                case '*':
                    s = maxExpand(ms, s, p, ep);
                    break;
                case '-':
                    s = minExpand(ms, s, p, ep);
                    break;
                default:
                    s++;
                    p = ep;
                    goto init;
                }
            }
            break;
        }
    }
    ms->depth++;
    return s;
}

void prepareState(MatchState *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp)
{
    ms->L = L;
    ms->srcInit = s;
    ms->srcEnd = s + ls;
    ms->pEnd = p + lp;
    ms->steps = StepsPerCheck;
}

void resetState(MatchState *ms)
{
    ms->level = 0;
    ms->depth = MaxMatchDepth;
}

// Pushes capture `i` (the whole match `s`..`e` when there are none).
void pushOneCapture(MatchState *ms, int i, const char *s, const char *e)
{
    if (i >= ms->level) {
        if (i != 0)
            luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(ms->L, s, size_t(e - s));
        return;
    }
    const ptrdiff_t l = ms->capture[i].len;
    if (l == CapUnfinished)
        luaL_error(ms->L, "unfinished capture");
    else if (l == CapPosition)
        lua_pushinteger(ms->L, (ms->capture[i].init - ms->srcInit) + 1);
    else
        lua_pushlstring(ms->L, ms->capture[i].init, size_t(l));
}

int pushCaptures(MatchState *ms, const char *s, const char *e)
{
    const int levels = ms->level == 0 && s ? 1 : ms->level;
    luaL_checkstack(ms->L, levels, "too many captures");
    for (int i = 0; i < levels; i++)
        pushOneCapture(ms, i, s, e);
    return levels;
}

// Whether `p` has no special characters (it may hold zeros).
bool noSpecials(const char *p, size_t l)
{
    size_t upto = 0;
    do {
        if (std::strpbrk(p + upto, Specials))
            return false;
        upto += std::strlen(p + upto) + 1; // past the next zero
    } while (upto <= l);
    return true;
}

size_t startIndex(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return size_t(pos);
    if (pos == 0 || pos < -lua_Integer(len))
        return 1;
    return size_t(lua_Integer(len) + pos + 1);
}

int findAux(lua_State *L, bool find)
{
    size_t ls = 0, lp = 0;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const size_t init = startIndex(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) { // no match can start after the end
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || noSpecials(p, lp))) {
        const size_t at = std::string_view(s, ls).find(std::string_view(p, lp), init);
        if (at != std::string_view::npos) {
            lua_pushinteger(L, lua_Integer(at) + 1);
            lua_pushinteger(L, lua_Integer(at + lp));
            return 2;
        }
    } else {
        MatchState ms;
        const char *s1 = s + init;
        const bool anchor = *p == '^';
        if (anchor) {
            p++;
            lp--;
        }
        prepareState(&ms, L, s, ls, p, lp);
        do {
            resetState(&ms);
            if (const char *res = doMatch(&ms, s1, p)) {
                if (find) {
                    lua_pushinteger(L, (s1 - s) + 1);
                    lua_pushinteger(L, res - s);
                    return pushCaptures(&ms, nullptr, nullptr) + 2;
                }
                return pushCaptures(&ms, s1, res);
            }
        } while (s1++ < ms.srcEnd && !anchor);
    }
    luaL_pushfail(L);
    return 1;
}

int strFind(lua_State *L)
{
    return findAux(L, true);
}

int strMatch(lua_State *L)
{
    return findAux(L, false);
}

struct GMatchState
{
    const char *src;
    const char *p;
    const char *lastMatch; // no empty match right after it
    MatchState ms;
};

int gmatchNext(lua_State *L)
{
    auto *gm = static_cast<GMatchState *>(lua_touserdata(L, lua_upvalueindex(3)));
    gm->ms.L = L;
    for (const char *src = gm->src; src <= gm->ms.srcEnd; src++) {
        resetState(&gm->ms);
        const char *e = doMatch(&gm->ms, src, gm->p);
        if (e && e != gm->lastMatch) {
            gm->src = gm->lastMatch = e;
            return pushCaptures(&gm->ms, src, e);
        }
    }
    return 0;
}

int strGmatch(lua_State *L)
{
    size_t ls = 0, lp = 0;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = startIndex(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2); // the strings stay upvalues, so they are not collected
    auto *gm = static_cast<GMatchState *>(lua_newuserdatauv(L, sizeof(GMatchState), 0));
    if (init > ls)
        init = ls + 1; // start after the end
    prepareState(&gm->ms, L, s, ls, p, lp);
    gm->src = s + init;
    gm->p = p;
    gm->lastMatch = nullptr;
    lua_pushcclosure(L, &gmatchNext, 3);
    return 1;
}

void addString(MatchState *ms, luaL_Buffer *b, const char *s, const char *e)
{
    size_t l = 0;
    lua_State *L = ms->L;
    const char *news = lua_tolstring(L, 3, &l);
    const char *p;
    while ((p = static_cast<const char *>(std::memchr(news, Esc, l)))) {
        luaL_addlstring(b, news, size_t(p - news));
        p++; // skip the escape
        if (*p == Esc) {
            luaL_addchar(b, *p);
        } else if (*p == '0') {
            luaL_addlstring(b, s, size_t(e - s));
        } else if (std::isdigit(uchar(*p))) {
            pushOneCapture(ms, *p - '1', s, e);
            luaL_tolstring(L, -1, nullptr); // a position capture is a number
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", Esc);
        }
        l -= size_t(p + 1 - news);
        news = p + 1;
    }
    luaL_addlstring(b, news, l);
}

// Adds the replacement of the match `s`..`e`; false when it keeps the match as it was.
bool addValue(MatchState *ms, luaL_Buffer *b, const char *s, const char *e, int tr)
{
    lua_State *L = ms->L;
    switch (tr) {
    case LUA_TFUNCTION: {
        lua_pushvalue(L, 3);
        const int n = pushCaptures(ms, s, e);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        pushOneCapture(ms, 0, s, e);
        lua_gettable(L, 3);
        break;
    default:
        addString(ms, b, s, e);
        return true;
    }
    if (!lua_toboolean(L, -1)) { // nil or false: keep the original text
        lua_pop(L, 1);
        luaL_addlstring(b, s, size_t(e - s));
        return false;
    }
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return true;
}

int strGsub(lua_State *L)
{
    size_t srcl = 0, lp = 0;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *lastMatch = nullptr;
    const int tr = lua_type(L, 3);
    const lua_Integer maxS = luaL_optinteger(L, 4, lua_Integer(srcl) + 1);
    const bool anchor = *p == '^';
    lua_Integer n = 0;
    bool changed = false;
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    MatchState ms;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (anchor) {
        p++;
        lp--;
    }
    prepareState(&ms, L, src, srcl, p, lp);
    while (n < maxS) {
        resetState(&ms);
        const char *e = doMatch(&ms, src, p);
        if (e && e != lastMatch) {
            n++;
            changed = addValue(&ms, &b, src, e, tr) || changed;
            src = lastMatch = e;
        } else if (src < ms.srcEnd) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1); // the subject as it was
    } else {
        luaL_addlstring(&b, src, size_t(ms.srcEnd - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

} // namespace

void luaCheckInterrupt(lua_State *L)
{
    if (!(lua_gethookmask(L) & LUA_MASKCOUNT))
        return;
    if (lua_Hook hook = lua_gethook(L)) {
        lua_Debug ar{};
        ar.event = LUA_HOOKCOUNT;
        hook(L, &ar);
    }
}

void luaOpenInterruptiblePatterns(lua_State *L)
{
    const luaL_Reg functions[] = {
        {"find", &strFind}, {"match", &strMatch}, {"gmatch", &strGmatch},
        {"gsub", &strGsub}, {nullptr, nullptr},
    };
    lua_getglobal(L, "string");
    luaL_setfuncs(L, functions, 0);
    lua_pop(L, 1);
}
