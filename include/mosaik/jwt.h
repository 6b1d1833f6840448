#ifndef MOSAIK_JWT_H
#define MOSAIK_JWT_H
#endif
